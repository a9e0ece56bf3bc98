"""End to end: --access-log PATH, written by every worker, reopened on the master's SIGUSR1."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.harness import AdminClient, Event, waitUntil

CONCURRENCY = 24
"""Requests in flight at once: the demo app answers after 1 s, so they spread over the workers."""


def combined(path: str, agent: str) -> re.Pattern[str]:
    """
    A whole line of twisted.web's combined log format (it quotes the client's
    address) for a GET of C{path} (a regular expression) answered 200.
    """
    return re.compile(
        r'"127\.0\.0\.1" - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
        rf'"GET {path} HTTP/1\.1" 200 13 "-" "{re.escape(agent)}"$'
    )


def matching(pattern: re.Pattern[str], found: list[str]) -> int:
    return sum(bool(pattern.match(line)) for line in found)


def get(port: int, path: str, agent: str) -> bytes:
    """One GET with its own connection and user agent; the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path, headers={"User-Agent": agent})
        return connection.getresponse().read()
    finally:
        connection.close()


def getAtOnce(port: int, agent: str) -> None:
    """L{CONCURRENCY} GETs of C{/n/I} at once; all must be answered."""
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        bodies = list(pool.map(lambda n: get(port, f"/n/{n}", agent), range(CONCURRENCY)))
    assert bodies == [b"Request done\n"] * CONCURRENCY


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def reopened(events: list[Event], path: Path) -> set[int]:
    """The workers that logged reopening C{path}."""
    text = f"reopened the access log {path}"
    return {e["workerId"] for e in events if e.get("line") == text}


def test_everyWorkerAppendsAndReopensOnUsr1(startServer, tmp_path: Path):
    """
    With --access-log PATH, requests served by several workers are each one
    whole combined-format line in PATH (status, path, user agent); after
    logrotate's rename and SIGUSR1 to the master, every worker writes to a
    fresh file at PATH and nothing more to the renamed one.
    """
    path = tmp_path / "access.log"
    server = startServer("--workers", "3", "--ttl", "off", "--access-log", str(path))
    server.waitReady(3)
    getAtOnce(server.port, "before-rotation/1.0")
    curl = ["curl", "-sS", "-A", "curl-e2e/1.0", f"{server.url}curl?x=1"]
    assert subprocess.run(curl, capture_output=True, timeout=20).stdout == b"Request done\n"
    waitUntil(lambda: len(lines(path)) == CONCURRENCY + 1, 10, "a line per request")
    before = lines(path)
    assert matching(combined(r"/n/\d+", "before-rotation/1.0"), before) == CONCURRENCY, before
    assert matching(combined(r"/curl\?x=1", "curl-e2e/1.0"), before) == 1, before
    with AdminClient(server.adminPort) as admin:
        served = waitUntil(
            lambda: [w["served"] for w in admin.json("list")["workers"] if w["served"]],
            10,
            "the status reports",
        )
    assert len(served) >= 2, f"one worker served everything: {served}"

    (tmp_path / "access.log").rename(tmp_path / "access.log.1")
    server.signal(signal.SIGUSR1)
    workers = {e["workerId"] for e in server.eventsOf("ready")}
    server.waitFor(lambda events: reopened(events, path) == workers)
    getAtOnce(server.port, "after-rotation/1.0")
    waitUntil(lambda: len(lines(path)) == CONCURRENCY, 10, "a line per request in the new file")
    after = lines(path)
    assert matching(combined(r"/n/\d+", "after-rotation/1.0"), after) == CONCURRENCY, after
    assert lines(tmp_path / "access.log.1") == before
    assert server.process.poll() is None
