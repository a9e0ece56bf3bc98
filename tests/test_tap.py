"""Tests of the twistd command line: defaults, validation, and what it builds."""

from __future__ import annotations

import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from recycler.master.policy import TTLRange
from recycler.master.pool import PoolConfig
from recycler.master.triggers import TriggerConfig
from recycler.tap import Options, makeService, poolConfig, workerCommand


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


class FixedListeners:
    """Listening sockets already bound on fds 9 and 10."""

    def filenos(self) -> list[int]:
        return [9, 10]


class DefaultsTests(SynchronousTestCase):
    """With no options, C{twistd recycler} is the Node.js cluster example."""

    def test_defaultsAreTheNodeExample(self) -> None:
        """Port 10080, 4 workers, TTL 0-5 s, 30 s grace, the demo app."""
        options = parse()
        self.assertEqual(options["listen"], ["tcp:10080"])
        self.assertEqual(options["workers"], 4)
        self.assertEqual(options["ttl"], TTLRange(0, 5))
        self.assertEqual(options["grace"], 30)
        self.assertEqual(options["app"], "recycler.demo:resource")

    def test_recyclingDefaults(self) -> None:
        """Overlap on, one recycle at a time, 30 s hang timeout, 60 s boot timeout."""
        config = poolConfig(parse())
        self.assertEqual((config.overlap, config.maxDraining), (True, 1))
        triggers = config.triggers
        self.assertEqual((triggers.maxRequests, triggers.maxRss), (None, None))
        self.assertEqual((triggers.heartbeatTimeout, triggers.bootTimeout), (30, 60))

    def test_theSeedTTLIsTheCommandLinesNotThePools(self) -> None:
        """The seed's 0-5 s TTL is the CLI default; a pool built without one has none."""
        self.assertEqual(poolConfig(parse()).triggers.ttl, TTLRange(0, 5))
        self.assertIsNone(PoolConfig().triggers.ttl)


class ParsingTests(SynchronousTestCase):
    """Options reach the pool and the workers."""

    def test_listenRepeats(self) -> None:
        """--listen (-l) may be given several times; the sockets keep that order."""
        self.assertEqual(parse("-l", "tcp:1", "--listen", "tcp6:2")["listen"], ["tcp:1", "tcp6:2"])

    def test_spawnModes(self) -> None:
        """Workers are forked from a fork server by default; --spawn exec runs each anew."""
        self.assertEqual(parse()["spawn"], "fork")
        self.assertEqual(parse("--spawn", "exec")["spawn"], "exec")
        self.assertTrue(parse("--preload")["preload"])

    def test_ttlOff(self) -> None:
        """--ttl off disables recycling."""
        self.assertIsNone(parse("--ttl", "off")["ttl"])

    def test_poolConfig(self) -> None:
        """Recycling options reach the pool's configuration, --max-rss in bytes."""
        config = poolConfig(
            parse(
                "--overlap", "off", "--max-draining", "2", "--max-requests", "1000",
                "--max-requests-jitter", "50", "--max-rss", "200", "--timeout", "off",
                "--boot-timeout", "90",
            )
        )  # fmt: skip
        expected = PoolConfig(
            target=4,
            grace=30,
            overlap=False,
            maxDraining=2,
            triggers=TriggerConfig(
                ttl=TTLRange(0, 5),
                maxRequests=1000,
                maxRequestsJitter=50,
                maxRss=200 * 1024 * 1024,
                heartbeatTimeout=None,
                bootTimeout=90,
            ),
        )
        self.assertEqual(config, expected)

    def test_workerCommand(self) -> None:
        """Workers run this interpreter with the app, the master's grace and the socket count."""
        command = workerCommand(parse("--app", "m:a", "--grace", "10"), FixedListeners())
        self.assertEqual(command.executable, sys.executable)
        self.assertEqual(
            command.argv()[1:],
            [
                "-m", "recycler.worker", "--app", "m:a", "--grace", "10.0",
                "--status-interval", "1.0", "--threads", "0", "--nice", "0", "--listeners", "2",
            ],
        )  # fmt: skip
        self.assertEqual(command.env["PYTHONUNBUFFERED"], "1")
        self.assertEqual(command.childFDs()[5], 9)
        self.assertEqual(command.childFDs()[6], 10)


BAD_VALUES = [
    (["--workers", "0"], "--workers: must be at least 1, got 0"),
    (["-w", "0"], "--workers: must be at least 1"),
    (["--workers", "many"], "--workers: must be at least 1, got 'many'"),
    (["--ttl", "5:1"], "--ttl"),
    (["--grace", "-1"], "--grace: must be a positive number of seconds"),
    (["--grace", "soon"], "--grace: must be a positive number of seconds, got 'soon'"),
    (["--listen", "bogus:1"], "--listen"),
    (["--listen", "unix:/tmp/x.sock"], "would unlink"),
    (["--listen", "systemd:domain=UNIX:index=0"], "would unlink"),
    (["--listen", "tcp:1", "--listen", "bogus:2"], "--listen"),
    (["--listen", "systemd:domain=INET:index=0"], "not started by systemd socket activation"),
    (["--listen", "systemd:domain=INET:name=http"], "LISTEN_FDS"),
    (["--tls-cert", "/no/such.pem"], "--tls-cert: cannot load"),
    (["--tls-key", "/no/such.pem"], "needs --tls-cert"),
    (["--threads", "-1"], "--threads: must be 0 or more"),
    (["--admin-token", " padded"], "one word"),
    (["--admin-token", ""], "one word"),
    (["--admin", "tcp:10081"], "--admin: 'tcp:10081' takes clients from other hosts"),
    (["--admin", "tcp:10081:interface=0.0.0.0"], "--admin-insecure"),
    (["--admin", "tcp:10081:interface=192.168.1.20"], "--admin-insecure"),
    (["--admin", "tcp6:10081"], "--admin-insecure"),
    (["--admin", "tcp6:10081:interface=\\:\\:"], "--admin-insecure"),
    (["--metrics", "bogus:9100"], "--metrics: 'bogus:9100' is not valid: Unknown endpoint"),
    (["--metrics", "tcp:notaport"], "--metrics: 'tcp:notaport' is not valid"),
    (["--metrics", ""], "--metrics: '' is not valid"),
    (["--listen", "tcp:notaport"], "not a valid endpoint"),
    (["--app", "nocolon"], "--app"),
    (["--overlap", "maybe"], "--overlap: expected on or off"),
    (["--timeout", "1"], "at least 2s"),
    (["--timeout", "never"], "--timeout: must be seconds above 0, or off, got 'never'"),
    (["--boot-timeout", "-1"], "--boot-timeout: must be seconds above 0, or off, got -1.0"),
    (["--max-requests", "-5"], "--max-requests: must be at least 1"),
    (["--max-requests-jitter", "-1"], "--max-requests-jitter: must be 0 or more"),
    (["--max-draining", "0"], "--max-draining: must be at least 1"),
    (["--spawn", "vfork"], "--spawn: must be fork or exec, got vfork"),
    (["--worker-nice", "20"], "--worker-nice: must be 0 to 19"),
    (["--worker-nice", "-1"], "--worker-nice: must be 0 to 19"),
    (["--max-rss", "512X"], "--max-rss: must be a size such as 512, 512M or 2GiB"),
    (["--max-rss", "-1"], "--max-rss: must be a size"),
    (["--max-rss", "0.0001K"], "--max-rss: must be a size"),
    (["--max-rss", "512MiBs"], "--max-rss: must be a size"),
    (["--preload", "--spawn", "exec"], "--preload needs --spawn fork"),
]


class MaxRssTests(SynchronousTestCase):
    """--max-rss takes a size: MiB without a unit, as it always did."""

    def test_units(self) -> None:
        """K, M, G and KiB, MiB, GiB are powers of 1024; KB, MB, GB powers of 1000."""
        sizes = {
            "512": 512 * 2**20, "512M": 512 * 2**20, "512MiB": 512 * 2**20, "512 mib": 512 * 2**20,
            "512MB": 512 * 10**6, "2G": 2 * 2**30, "2GiB": 2 * 2**30, "2GB": 2 * 10**9,
            "100K": 100 * 2**10, "100KiB": 100 * 2**10, "100kB": 100 * 10**3, "1.5G": 3 * 2**29,
        }  # fmt: skip
        for text, size in sizes.items():
            self.assertEqual(poolConfig(parse("--max-rss", text)).triggers.maxRss, size, text)

    def test_off(self) -> None:
        """off (or 0) disables the limit."""
        for text in ("off", "0"):
            self.assertIsNone(poolConfig(parse("--max-rss", text)).triggers.maxRss)


CHECKED = [
    "workers", "grace", "threads", "spawn", "overlap", "max-draining", "worker-nice",
    "max-requests", "max-requests-jitter", "max-rss", "timeout", "boot-timeout",
]  # fmt: skip
"""The options whose value a function checks as it is parsed."""


class BadValueTests(SynchronousTestCase):
    """Bad values are usage errors with a message, never another exception."""

    def test_badValuesAreUsageErrors(self) -> None:
        """Each bad value raises UsageError naming what is wrong."""
        for argv, message in BAD_VALUES:
            error = self.assertRaises(usage.UsageError, parse, *argv)
            self.assertIn(message, str(error), f"{argv}: {error}")

    def test_coercedValuesNameTheirOption(self) -> None:
        """Every option with a checked value names itself when the value is bad."""
        for name in CHECKED:
            error = self.assertRaises(usage.UsageError, parse, f"--{name}", "?")
            self.assertTrue(str(error).startswith(f"--{name}: "), str(error))

    def test_helpStillDescribesValues(self) -> None:
        """--help keeps each check's description."""
        self.assertIn("Must be at least 1.", str(Options()))
        self.assertIn("MiB, or 512M, 2GiB (powers of 1024)", str(Options()))


class AdminExposureTests(SynchronousTestCase):
    """An admin port other hosts can reach needs a token, or --admin-insecure."""

    def test_localEndpointsNeedNoToken(self) -> None:
        """Loopback addresses and unix sockets are fine without a token."""
        for endpoint in (
            "tcp:10081:interface=127.0.0.1",
            "tcp:10081:interface=127.0.0.2",
            "tcp:10081:interface=localhost",
            "tcp6:10081:interface=\\:\\:1",
            "unix:/run/recycler/admin.sock:mode=600",
            "none",
        ):
            parse("--admin", endpoint)

    def test_aTokenOrTheFlagAllowsAnyInterface(self) -> None:
        """--admin-token, or saying so with --admin-insecure, allows all interfaces."""
        self.assertEqual(
            parse("--admin", "tcp:10081", "--admin-token", "s3cret")["admin"], "tcp:10081"
        )
        self.assertTrue(parse("--admin", "tcp:10081", "--admin-insecure")["admin-insecure"])


class MetricsOptionTests(SynchronousTestCase):
    """--metrics ENDPOINT: the monitoring port, off by default."""

    def test_offByDefault(self) -> None:
        """Without --metrics (or with none) the service binds no monitoring port."""
        self.assertIsNone(parse()["metrics"])
        self.assertIsNone(parse("--metrics", "none")["metrics"])
        self.assertIsNone(makeService(parse("--spawn", "exec")).metrics)

    def test_endpointReachesTheService(self) -> None:
        """The endpoint is kept as given and served by a twisted.web site."""
        endpoint = "tcp:9100:interface=127.0.0.1"
        description, factory = makeService(parse("--spawn", "exec", "--metrics", endpoint)).metrics
        self.assertEqual(description, endpoint)
        self.assertIsInstance(factory, Site)
