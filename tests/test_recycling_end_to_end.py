"""End-to-end: hang detection, rolling reload by signal, crash loops, with real processes."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from tests.harness import AdminClient, acceptedConnections, load, waitUntil
from tests.processes import writeModule

OK = (200, b"Request done\n")


def test_frozenWorkerIsReplaced(startServer):
    """A worker frozen with SIGSTOP is killed and replaced within --timeout + 2 s."""
    server = startServer("--workers", "2", "--ttl", "off", "--timeout", "2")
    server.waitReady(2)
    frozen = min(server.liveWorkerPids())
    os.kill(frozen, signal.SIGSTOP)
    stoppedAt = time.monotonic()
    server.waitFor(
        lambda events: [e for e in server.eventsOf("killed") if e["pid"] == frozen], timeout=4
    )
    server.waitReady(3, timeout=10)
    assert time.monotonic() - stoppedAt < 2 + 2 + 1.5
    assert [e["why"] for e in server.eventsOf("killed")] == ["timeout"]


@pytest_twisted.ensureDeferred
async def test_sighupReloadsUnderLoadWithoutFailures(startServer):
    """SIGHUP replaces every worker while 100 requests run: none fails."""
    from twisted.internet import reactor

    server = startServer("--workers", "4", "--ttl", "off")
    await deferToThread(server.waitReady, 4)
    original = server.liveWorkerPids()
    requests: Deferred = Deferred.fromCoroutine(
        load(reactor, server.url, total=100, concurrency=20)
    )
    await deferToThread(
        waitUntil,
        lambda: acceptedConnections(sorted(original), server.port) >= 10,
        10,
        "requests in flight",
    )
    server.signal(signal.SIGHUP)
    assert Counter(await requests) == Counter({OK: 100})
    await deferToThread(
        server.waitFor,
        lambda events: original <= {e["pid"] for e in server.eventsOf("exited")},
        20,
    )
    assert {e["reason"] for e in server.eventsOf("exited")} == {"reload"}


def test_crashLoopIsBoundedAndTheMasterStaysUp(startServer, tmp_path, monkeypatch):
    """
    A healthy pool reloaded to code that fails at import: respawns back off,
    and the master keeps running (a pool that was never healthy gives up instead).
    """
    writeModule(tmp_path, "deployed", "from recycler.demo import hello\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = startServer("--workers", "4", "--ttl", "off", "--app", "deployed:hello")
    server.waitReady(4)
    writeModule(tmp_path, "deployed", "import no_such_module\n")
    server.signal(signal.SIGHUP)
    server.waitFor(lambda events: len(server.eventsOf("exited")) >= 1)
    start = time.monotonic()
    bornBefore = len(server.eventsOf("born"))
    waitUntil(lambda: time.monotonic() - start > 6, 7, "six seconds of crash loop")
    attempts = len(server.eventsOf("born")) - bornBefore
    # Retries 0.5, 1, 2 and 4 s apart (plus up to 0.5 s of jitter): at most 4 in 6 s.
    assert attempts <= 4, f"{attempts} spawn attempts in 6 s"
    assert server.process.poll() is None
    with AdminClient(server.adminPort) as admin:
        backoff = admin.json("list")["backoff"]
    assert backoff["streak"] >= 3
    server.signal(signal.SIGTERM)
    assert server.wait() == 0


def test_ttinAndTtouResizeThePool(startServer):
    """SIGTTIN adds a worker; SIGTTOU drains the oldest one."""
    server = startServer("--workers", "2", "--ttl", "off")
    server.waitReady(2)
    server.signal(signal.SIGTTIN)
    server.waitReady(3)
    server.signal(signal.SIGTTOU)
    [drained] = server.waitFor(lambda events: server.eventsOf("draining"))
    assert (drained["workerId"], drained["reason"]) == (1, "scale")
