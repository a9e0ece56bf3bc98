"""End-to-end: the real twistd plugin, real worker processes, real HTTP clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from tests.harness import acceptedConnections, load, processGone, waitUntil
from tests.processes import httpGet, writeModule

OK = (200, b"Request done\n")


@pytest_twisted.ensureDeferred
async def test_noRequestFailsWhileThePoolRecycles(startServer):
    """500 requests, 20 at a time, over 4 workers with TTL 0-5 s: all answered, pids replaced."""
    from twisted.internet import reactor

    server = startServer("--workers", "4", "--ttl", "0:5")
    await deferToThread(server.waitReady, 4)
    results = await load(reactor, server.url, total=500, concurrency=20)
    assert Counter(results) == Counter({OK: 500})
    replaced = len(server.eventsOf("exited"))
    assert replaced >= 2, f"only {replaced} workers were recycled during the run"
    assert len(server.workerPids()) >= 4 + replaced


@pytest_twisted.ensureDeferred
async def test_sigtermFinishesEveryRequestInFlight(startServer):
    """SIGTERM to the master while 20 requests are being served: all 20 complete, exit 0."""
    from twisted.internet import reactor

    server = startServer("--workers", "4", "--ttl", "off")
    await deferToThread(server.waitReady, 4)
    workers = sorted(server.liveWorkerPids())
    requests: Deferred = Deferred.fromCoroutine(load(reactor, server.url, total=20, concurrency=20))
    await deferToThread(
        waitUntil,
        lambda: acceptedConnections(workers, server.port) >= 20,
        10,
        "20 connections accepted by workers",
    )
    server.signal(signal.SIGTERM)
    assert Counter(await requests) == Counter({OK: 20})
    assert await deferToThread(server.wait) == 0
    assert all(processGone(pid) for pid in workers)


def test_masterSigkillLeavesNoWorker(startServer):
    """If the master is SIGKILLed, every worker exits by itself within 5 s, freeing the port."""
    server = startServer("--workers", "4", "--ttl", "off")
    server.waitReady(4)
    workers = server.liveWorkerPids()
    port = server.port
    server.process.kill()
    waitUntil(lambda: all(processGone(pid) for pid in workers), 5, "workers to exit")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_aBrokenDeployKeepsTheMasterUp(startServer, tmp_path, monkeypatch):
    """
    Once the pool was healthy, a reload to code that cannot import is reported
    once, retried with backoff, and never stops the master: the old workers serve on.
    """
    writeModule(tmp_path, "deployed", "from recycler.demo import hello\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    server = startServer("--workers", "2", "--ttl", "off", "--app", "deployed:hello")
    server.waitReady(2)
    writeModule(tmp_path, "deployed", "import no_such_module\n")
    server.signal(signal.SIGHUP)
    server.waitFor(lambda events: len(server.eventsOf("exited")) >= 3, 30)
    errors = [e for e in server.events if e.get("log_level", {}).get("name") == "error"]
    assert len(errors) == 1, "logged once per crash streak"
    assert "cannot import 'deployed'" in errors[0]["why"]
    assert "No module named 'no_such_module'" in errors[0]["traceback"]
    assert server.process.poll() is None
    assert httpGet(server.port) == b"hello\n"
    server.signal(signal.SIGTERM)
    assert server.wait() == 0


@pytest.mark.parametrize("which", ["listen", "admin"])
def test_busyPortIsAClearError(startServer, which):
    """A serving or admin port already in use: a one-line error, exit status 1, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = startServer(**{which: f"tcp:{port}:interface=127.0.0.1"})
        assert server.wait(20) == 1
    assert f"cannot listen: Couldn't listen on 127.0.0.1:{port}" in server.output()
    assert "Traceback" not in server.output()
    assert server.workerPids() == set()


def test_badOptionIsAClearError():
    """A bad command-line value prints a usage error, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "twisted", "recycler", "--workers", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "--workers" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_readyWorkersLowerTheirPriority(startServer):
    """--worker-nice 7: each worker runs 7 nicer than the master once ready."""
    server = startServer("--workers", "2", "--ttl", "off", "--worker-nice", "7")
    server.waitReady(2)
    master = os.getpriority(os.PRIO_PROCESS, server.process.pid)
    waitUntil(
        lambda: (
            [os.getpriority(os.PRIO_PROCESS, pid) for pid in server.liveWorkerPids()]
            == [master + 7] * 2
        ),
        10,
        "both workers at nice +7",
    )


def test_operatorSignalsKeepTheMasterServing(startServer):
    """SIGUSR1, SIGUSR2 and SIGWINCH are logged; the master and its workers keep serving."""
    server = startServer("--workers", "2", "--ttl", "off", "--app", "recycler.demo:hello")
    server.waitReady(2)
    workers = server.liveWorkerPids()
    for signum, message in [
        (signal.SIGUSR1, "no log file to reopen (logging to standard output or syslog)"),
        (signal.SIGUSR2, "SIGUSR2 is not supported; ignored"),
        (signal.SIGWINCH, "SIGWINCH ignored"),
    ]:
        server.signal(signum)
        server.waitFor(lambda events, m=message: [e for e in events if e.get("log_format") == m])
        assert signum.name in [e.get("signal") for e in server.events]
    assert httpGet(server.port) == b"hello\n"
    assert server.process.poll() is None
    assert server.liveWorkerPids() == workers
    server.signal(signal.SIGTERM)
    assert server.wait() == 0


def test_usr1ReopensTheLogFile(startServer, tmp_path):
    """Under twistd --logfile, after the file is renamed, SIGUSR1 logs to a fresh file."""
    path = tmp_path / "twistd.log"
    server = startServer("--workers", "1", "--ttl", "off", logFile=str(path))
    waitUntil(lambda: path.exists() and "worker 1 ready:" in path.read_text(), 20, "worker 1")
    path.rename(tmp_path / "twistd.log.1")
    server.signal(signal.SIGUSR1)
    waitUntil(lambda: path.exists() and "reopened the log file" in path.read_text(), 10, "reopen")
    assert "worker 1 ready:" not in path.read_text()
    assert "got SIGUSR1" in (tmp_path / "twistd.log.1").read_text()
    server.signal(signal.SIGTTIN)
    waitUntil(lambda: "worker 2 ready:" in path.read_text(), 20, "worker 2 logged anew")
    assert server.process.poll() is None
