"""Tests of the twistd command line: defaults, validation, and the worker command."""

from __future__ import annotations

import sys

import pytest
from twisted.python import usage

from recycler.policy import TTLRange
from recycler.tap import Options, workerCommand


def parse(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_defaultsAreTheNodeExample():
    """With no options: port 10080, 4 workers, TTL 0-5 s, 30 s grace, the demo app."""
    options = parse()
    assert options["listen"] == "tcp:10080"
    assert options["workers"] == 4
    assert options["ttl"] == TTLRange(0, 5)
    assert options["grace"] == 30
    assert options["app"] == "recycler.demo:resource"


def test_ttlOff():
    """--ttl off disables recycling."""
    assert parse("--ttl", "off")["ttl"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "at least 1"),
        (["--workers", "many"], "invalid literal"),
        (["--ttl", "5:1"], "--ttl"),
        (["--grace", "-1"], "positive"),
        (["--listen", "bogus:1"], "--listen"),
        (["--listen", "unix:/tmp/x.sock"], "only tcp, tcp6"),
        (["--listen", "tcp:notaport"], "not a valid endpoint"),
        (["--app", "nocolon"], "--app"),
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
    assert command.args[1:] == [
        "-m", "recycler.worker", "--app", "m:a", "--listeners", "2", "--grace", "9.0",
    ]  # fmt: skip
    assert command.env["PYTHONUNBUFFERED"] == "1"
    assert command.listenerFDs == [9, 10]
