"""Tests of the twistd command line: defaults, validation, and the worker command."""

from __future__ import annotations

import sys

import pytest
from twisted.python import usage

from recycler.master.policy import TTLRange
from recycler.master.pool import PoolConfig
from recycler.tap import Options, poolConfig, workerCommand


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_defaultsAreTheNodeExample():
    """With no options: port 10080, 4 workers, TTL 0-5 s, 30 s grace, the demo app."""
    options = parse()
    assert options["listen"] == ["tcp:10080"]
    assert options["workers"] == 4
    assert options["ttl"] == TTLRange(0, 5)
    assert options["grace"] == 30
    assert options["app"] == "recycler.demo:resource"


def test_listenRepeats():
    """--listen (-l) may be given several times; the sockets keep that order."""
    assert parse("-l", "tcp:1", "--listen", "tcp6:2")["listen"] == ["tcp:1", "tcp6:2"]


def test_ttlOff():
    """--ttl off disables recycling."""
    assert parse("--ttl", "off")["ttl"] is None


def test_poolConfig():
    """Recycling options reach the pool's configuration, --max-rss in bytes."""
    config = poolConfig(
        parse(
            "--overlap", "off", "--max-draining", "2", "--max-requests", "1000",
            "--max-requests-jitter", "50", "--max-rss", "200", "--timeout", "off",
            "--boot-timeout", "90",
        )
    )  # fmt: skip
    assert config == PoolConfig(
        target=4,
        ttl=TTLRange(0, 5),
        grace=30,
        overlap=False,
        maxDraining=2,
        maxRequests=1000,
        maxRequestsJitter=50,
        maxRss=200 * 1024 * 1024,
        timeout=None,
        bootTimeout=90,
    )


def test_recyclingDefaults():
    """By default: overlap on, one recycle at a time, 30 s hang timeout, 60 s boot timeout."""
    config = poolConfig(parse())
    assert (config.overlap, config.maxDraining, config.maxRequests, config.maxRss) == (
        True, 1, None, None,
    )  # fmt: skip
    assert (config.timeout, config.bootTimeout) == (30, 60)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
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
    ],
)
def test_badValuesAreUsageErrors(argv, message):
    """Bad values raise UsageError with a message, never another exception."""
    with pytest.raises(usage.UsageError, match=message):
        parse(*argv)


def test_workerCommand():
    """Workers run this interpreter with the app, socket count and a grace under the master's."""
    command = workerCommand(parse("--app", "m:a", "--grace", "10"), [9, 10])
    assert command.executable == sys.executable
    assert command.argv()[1:] == [
        "-m", "recycler.worker", "--app", "m:a", "--grace", "9.0", "--status-interval", "1.0",
        "--threads", "10", "--listeners", "2",
    ]  # fmt: skip
    assert command.env["PYTHONUNBUFFERED"] == "1"
    assert command.listenerFDs == [9, 10]
