"""End to end: the fork server's life (reload with new code, a broken reload, its death)."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.harness import AdminClient, Server, waitUntil
from tests.processes import writeModule

APP = """
from twisted.web.resource import Resource

class Version(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"%s\\n"

resource = Version()
"""


def get(server: Server) -> bytes:
    with urllib.request.urlopen(server.url, timeout=10) as response:
        return response.read()


def writeApp(directory: Path, version: str, broken: bool = False) -> None:
    source = APP % version + ("\nsyntax error(\n" if broken else "")
    writeModule(directory, "versioned", source)


@pytest.fixture
def appServer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A forking server with --preload of an app the test can rewrite."""
    writeApp(tmp_path, "v1")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = Server(
        "--spawn", "fork", "--preload", "--workers", "2", "--ttl", "off",
        "--app", "versioned:resource",
    )  # fmt: skip
    yield server, tmp_path
    server.kill()


def forkServer(admin: AdminClient) -> dict:
    return admin.json("list")["forkServer"]


def test_reloadPicksUpNewCodeAndABrokenReloadKeepsServing(appServer):
    """SIGHUP starts a new fork server (new code); a new one that cannot start changes nothing."""
    server, directory = appServer
    server.waitReady(2)
    assert get(server) == b"v1\n"
    writeApp(directory, "v2")
    server.signal(signal.SIGHUP)
    waitUntil(lambda: get(server) == b"v2\n" and get(server) == b"v2\n", 20, "the new code")
    with AdminClient(server.adminPort) as admin:
        waitUntil(lambda: forkServer(admin)["restarts"] == 1, 10, "the new fork server")
        writeApp(directory, "v3", broken=True)
        assert admin.command("reload") == ["ok"]
        waitUntil(lambda: forkServer(admin)["failure"] is not None, 20, "the failed reload")
        assert "SyntaxError" in forkServer(admin)["failure"]
        assert forkServer(admin)["ready"], "the old fork server is still there"
        listed = admin.json("list")
        assert [w["state"] for w in listed["workers"]] == ["ready", "ready"]
    assert get(server) == b"v2\n"
    assert server.process.poll() is None


def test_aKilledForkServerIsReplacedAndTheWorkersServeOn(appServer):
    """SIGKILL to the fork server: workers keep serving, another fork server starts."""
    server, _ = appServer
    server.waitReady(2)
    with AdminClient(server.adminPort) as admin:
        first = forkServer(admin)["pid"]
        workers = {w["pid"] for w in admin.json("list")["workers"]}
        os.kill(first, signal.SIGKILL)
        waitUntil(
            lambda: forkServer(admin)["ready"] and forkServer(admin)["pid"] != first,
            20,
            "another fork server",
        )
        assert forkServer(admin)["restarts"] == 1
        assert {w["pid"] for w in admin.json("list")["workers"]} == workers
        assert admin.command("kill 1") == ["ok"]
        waitUntil(lambda: 1 not in {w["id"] for w in admin.json("list")["workers"]}, 20, "kill")
        assert [w["spawn"] for w in admin.json("list")["workers"]] == ["fork", "fork"]
    assert get(server) == b"v1\n"
