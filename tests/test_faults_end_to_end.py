"""End to end: faults met on day one: a stopped master, an app that never starts, a hang."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.harness import AdminClient, waitUntil

BROKEN_APP = """\
from twisted.web.resource import Resource

raise RuntimeError("the database is not configured")
"""

HANGING_APP = """\
import time

from twisted.web.resource import Resource


class Hang(Resource):
    isLeaf = True

    def render_GET(self, request):
        time.sleep(600)


resource = Hang()
"""


def workerAges(admin: AdminClient) -> dict[int, float]:
    return {w["pid"]: w["age"] for w in admin.json("list")["workers"]}


def test_aStoppedMasterKeepsItsWorkers(startServer):
    """A master stopped for twice --timeout, then continued, kills no worker as hung."""
    server = startServer("--workers", "2", "--ttl", "off", "--timeout", "2")
    server.waitReady(2)
    workers = server.liveWorkerPids()
    server.signal(signal.SIGSTOP)
    try:
        time.sleep(4)  # the fault itself: the master is stopped, its workers serve on
    finally:
        server.signal(signal.SIGCONT)
    with AdminClient(server.adminPort) as admin:
        resumed = min(workerAges(admin).values())
        # A worker deemed silent would be killed at once; watch for 2 x --timeout anyway.
        waitUntil(lambda: min(workerAges(admin).values()) > resumed + 4, 20, "4 s after resume")
        assert set(workerAges(admin)) == workers
    assert server.eventsOf("killed") == []


@pytest.mark.parametrize("app", ["nosuchmod:app", "brokenapp:resource"])
def test_anAppThatNeverStartsStopsTheMaster(
    startServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: str
):
    """
    The master logs the app's traceback (file and line) once, closes its socket
    and exits 3, well within the boot timeout, instead of retrying forever.
    """
    (tmp_path / "brokenapp.py").write_text(BROKEN_APP)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = startServer("--workers", "4", "--app", app)
    assert server.wait(timeout=30) == 3
    errors = [e for e in server.events if e.get("log_level", {}).get("name") == "error"]
    [failure] = [e for e in errors if "Traceback" in e.get("traceback", "")]
    if app.startswith("brokenapp"):
        assert f'File "{tmp_path / "brokenapp.py"}", line 3' in failure["traceback"]
        assert "RuntimeError: the database is not configured" in failure["traceback"]
    else:
        assert "No module named 'nosuchmod'" in failure["traceback"]
    assert any("giving up" in e.get("log_format", "") for e in server.events)
    assert not any("[worker" in e.get("log_format", "") for e in server.events), "no stray lines"


def test_aHungWorkerDumpsItsStackBeforeItIsKilled(
    startServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """SIGUSR2 first: the hung worker's stack (the app's sleeping line) reaches the log."""
    (tmp_path / "hangingapp.py").write_text(HANGING_APP)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = startServer("--workers", "1", "--ttl", "off", "--timeout", "2", "--app",
                         "hangingapp:resource")  # fmt: skip
    server.waitReady(1)
    client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        server.waitFor(lambda events: any(e.get("event") == "exited" for e in events), 20)
    finally:
        client.close()
    [exited] = server.eventsOf("exited")
    assert exited["exitSignal"] == signal.SIGKILL
    dumps = [e["traceback"] for e in server.events if "[worker" in e.get("log_format", "")
             and "traceback" in e]  # fmt: skip
    assert any('hangingapp.py", line 10' in dump for dump in dumps), dumps
