"""End to end: the master's log as JSON lines (twistd --logger), worker output included."""

from __future__ import annotations

import http.client
import json
import re
import signal
from pathlib import Path

import pytest

from tests.harness import Event

APP = """\
from twisted.web.resource import Resource


class Flaky(Resource):
    isLeaf = True

    def render_GET(self, request):
        if request.path == b"/fail":
            raise RuntimeError('bad "quote"\\tand tab \\u2603')
        print("caf\\u00e9 \\x1b[1mbold\\x1b[0m", flush=True)
        return b"ok\\n"


resource = Flaky()
"""

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

ACCESS_LINE = re.compile(
    r'"127\.0\.0\.1" - - \[[^]]+\] "GET (/\?n=1 HTTP/1\.1" 200|/fail HTTP/1\.1" 500) \d+ '
    r'"-" "json-e2e/1\.0"$'
)
"""The access lines of both requests."""


def get(port: int, path: str) -> int:
    """GET C{path} with a user agent of our own; the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"User-Agent": "json-e2e/1.0"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def bothAccessLines(events: list[Event]) -> list[Event] | None:
    lines = [e for e in events if ACCESS_LINE.match(e.get("line", ""))]
    return lines if len(lines) == 2 else None


def found(events: list[Event], **fields: object) -> list[Event]:
    return [e for e in events if all(e.get(k) == v for k, v in fields.items())]


def test_everyLineOfTheLogIsJSON(startServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """
    Under C{twistd -n --logger=recycler.logs.jsonLinesObserver}, every line the
    master writes is one JSON object (json.loads per line, no record
    separator): its own events, a worker's relayed output and traceback, and
    the access log of C{--access-log -}.
    """
    (tmp_path / "flakyapp.py").write_text(APP)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = startServer("--workers", "2", "--ttl", "off", "--app", "flakyapp:resource",
                         "--access-log", "-", logger="recycler.logs.jsonLinesObserver")  # fmt: skip
    server.waitReady(2)
    assert get(server.port, "/?n=1") == 200
    assert get(server.port, "/fail") == 500
    tracebacks = server.waitFor(
        lambda events: [e for e in events if "RuntimeError: bad" in e.get("traceback", "")]
    )
    printed = server.waitFor(lambda events: found(events, line="caf\u00e9 \x1b[1mbold\x1b[0m"))
    access = server.waitFor(bothAccessLines)
    server.signal(signal.SIGTERM)
    assert server.wait() == 0

    lines = bytes(server.rawOutput).split(b"\n")
    assert lines.pop() == b"", "the output ends with a newline"
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) for r in records)
    assert len(records) == len(server.events)
    for record in records:
        assert list(record)[:4] == ["time", "level", "message", "namespace"], record
        assert ISO_UTC.match(record["time"]), record
        assert not any(key.startswith("log_") for key in record), record
    assert records[-1]["message"] == "Server Shut Down."

    [traceback] = tracebacks
    assert (traceback["level"], traceback["stream"]) == ("error", "stdout")
    assert isinstance(traceback["workerId"], int)
    assert 'flakyapp.py", line 9, in render_GET' in traceback["traceback"]
    assert 'RuntimeError: bad "quote"\tand tab \u2603' in traceback["traceback"]
    assert traceback["message"].startswith(f"[worker {traceback['workerId']}] ")
    assert printed[0]["level"] == "info" and isinstance(printed[0]["workerId"], int)
    assert "json-e2e" not in traceback["traceback"], "the access line is a record of its own"
    assert {(a["stream"], type(a["workerId"])) for a in access} == {("stdout", int)}
    assert found(server.events, event="ready", level="info")
