"""End to end: systemd's notifications from the real master, and the process titles."""

from __future__ import annotations

import array
import importlib.util
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import AdminClient, Server
from tests.processes import httpGet

APP = """
import os

from twisted.web.resource import Resource

class Environment(Resource):
    isLeaf = True

    def render_GET(self, request):
        names = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
        return " ".join(name for name in names if name in os.environ).encode() or b"-"

resource = Environment()
"""
"""Answers which of systemd's variables its worker has (C{-}: none)."""


class Notifications:
    """
    A fake C{NOTIFY_SOCKET}: a datagram socket that records each message and
    its sender's pid (C{SO_PASSCRED}, as systemd checks C{NotifyAccess=main}).
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.received: list[tuple[int, str]] = []

    def waitFor(self, prefix: str, count: int = 1, timeout: float = 30) -> list[str]:
        """Wait until C{count} messages start with C{prefix}; return them all."""
        deadline = time.monotonic() + timeout
        while len(found := self.messages(prefix)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {prefix!r} after {timeout}s; got {self.received}")
            self.socket.settimeout(remaining)
            try:
                data, ancillary, _, _ = self.socket.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            self.received.append((senderPid(ancillary), data.decode()))
        return found

    def messages(self, prefix: str = "") -> list[str]:
        return [message for _, message in self.received if message.startswith(prefix)]

    def senders(self) -> set[int]:
        return {pid for pid, _ in self.received}

    def close(self) -> None:
        self.socket.close()


def senderPid(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The pid of C{struct ucred} (pid, uid, gid) in the message's credentials."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return array.array("i", data[:12])[0]
    return 0


@pytest.fixture
def notifications(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The fake C{NOTIFY_SOCKET} (watchdog every 0.25 s) every server of the test inherits."""
    received = Notifications(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", received.path)
    monkeypatch.setenv("WATCHDOG_USEC", "500000")
    yield received
    received.close()


def test_notifiesSystemd(startServer, notifications, tmp_path, monkeypatch):
    """
    READY=1 once both workers are ready, STATUS= with the counts, WATCHDOG=1
    pings, RELOADING=1 then READY=1 around an admin reload, STOPPING=1 on
    SIGTERM: all from the master; its workers never see systemd's variables.
    """
    (tmp_path / "systemdenv.py").write_text(APP)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server: Server = startServer("--workers", "2", "--ttl", "off", "--app", "systemdenv:resource")
    [ready] = notifications.waitFor("READY=1")
    assert ready == "READY=1\nSTATUS=2 ready, 0 starting, 0 draining; 0 recycled"
    assert notifications.messages("STATUS=")
    assert httpGet(server.port) == b"-", "the workers have none of systemd's variables"
    notifications.waitFor("WATCHDOG=1", count=3)
    with AdminClient(server.adminPort) as admin:
        assert admin.command("reload") == ["ok"]
        [reloading] = notifications.waitFor("RELOADING=1")
        assert reloading.split("\n")[1].startswith("MONOTONIC_USEC=")
        notifications.waitFor("READY=1", count=2)
        assert [w["state"] for w in admin.json("list")["workers"]].count("ready") == 2
    drained = server.waitFor(
        lambda _: len(server.eventsOf("draining")) == 2 and server.eventsOf("draining")
    )
    assert sorted(e["workerId"] for e in drained) == [1, 2]
    server.signal(signal.SIGTERM)
    notifications.waitFor("STOPPING=1")
    assert server.wait() == 0
    assert notifications.senders() == {server.process.pid}


def title(pid: int) -> str:
    """What ps shows as the command line of C{pid}."""
    ps = ["ps", "-o", "args=", "-p", str(pid)]
    return subprocess.run(ps, capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(
    importlib.util.find_spec("setproctitle") is None,
    reason="setproctitle is not installed (pip install 'recycler[title]')",
)
def test_processTitles(startServer, spawnMode):
    """With setproctitle, ps names the master, the fork server and each worker with its id."""
    server: Server = startServer("--workers", "2", "--ttl", "off", "--app", "recycler.demo:hello")
    server.waitReady(2)
    assert title(server.process.pid) == "recycler: master [recycler.demo:hello]"
    for event in server.eventsOf("ready"):
        assert title(event["pid"]) == f"recycler: worker {event['workerId']} [recycler.demo:hello]"
    if spawnMode == "fork":
        with AdminClient(server.adminPort) as admin:
            forkServer = admin.json("list")["forkServer"]["pid"]
        assert title(forkServer) == "recycler: fork server [-]"
