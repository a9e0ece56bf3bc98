"""Tests of the twistd command line: defaults, validation, and what it builds."""

from __future__ import annotations

import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.policy import TTLRange
from recycler.master.pool import PoolConfig
from recycler.master.triggers import TriggerConfig
from recycler.tap import Options, poolConfig, workerCommand


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
                "--status-interval", "1.0", "--threads", "10", "--nice", "0", "--listeners", "2",
            ],
        )  # fmt: skip
        self.assertEqual(command.env["PYTHONUNBUFFERED"], "1")
        self.assertEqual(command.childFDs()[5], 9)
        self.assertEqual(command.childFDs()[6], 10)


BAD_VALUES = [
    (["--workers", "0"], "at least 1"),
    (["--workers", "many"], "invalid literal"),
    (["--ttl", "5:1"], "--ttl"),
    (["--grace", "-1"], "positive"),
    (["--listen", "bogus:1"], "--listen"),
    (["--listen", "unix:/tmp/x.sock"], "would unlink"),
    (["--listen", "systemd:domain=UNIX:index=0"], "would unlink"),
    (["--listen", "tcp:1", "--listen", "bogus:2"], "--listen"),
    (["--listen", "systemd:domain=INET:index=0"], "no such inherited socket"),
    (["--tls-cert", "/no/such.pem"], "--tls-cert: cannot load"),
    (["--tls-key", "/no/such.pem"], "needs --tls-cert"),
    (["--threads", "0"], "at least 1"),
    (["--admin-token", " padded"], "one word"),
    (["--admin-token", ""], "one word"),
    (["--listen", "tcp:notaport"], "not a valid endpoint"),
    (["--app", "nocolon"], "--app"),
    (["--overlap", "maybe"], "on or off"),
    (["--timeout", "1"], "at least 2s"),
    (["--max-requests", "-5"], "at least 1"),
    (["--max-requests-jitter", "-1"], "0 or more"),
    (["--max-draining", "0"], "at least 1"),
    (["--spawn", "vfork"], "fork or exec"),
    (["--worker-nice", "20"], "0 to 19"),
    (["--worker-nice", "-1"], "0 to 19"),
    (["--preload", "--spawn", "exec"], "--preload needs --spawn fork"),
]


class BadValueTests(SynchronousTestCase):
    """Bad values are usage errors with a message, never another exception."""

    def test_badValuesAreUsageErrors(self) -> None:
        """Each bad value raises UsageError naming what is wrong."""
        for argv, message in BAD_VALUES:
            error = self.assertRaises(usage.UsageError, parse, *argv)
            self.assertIn(message, str(error), f"{argv}: {error}")
