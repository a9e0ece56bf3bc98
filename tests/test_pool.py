"""Unit tests of the pool's decisions, driven by a fake process reactor and a clock."""

from __future__ import annotations

import pytest
from twisted.logger import capturedLogs

from recycler import messages
from recycler.policy import TTLRange
from recycler.pool import WorkerCommand, WorkerPool
from recycler.testing import FakeProcess, FakeProcessReactor
from recycler.workerprocess import WorkerState

DEFAULT_TTL = TTLRange(2, 4)
COMMAND = WorkerCommand("/py", ["/py", "-m", "recycler.worker"], {"A": "1"}, [7])


def makePool(
    reactor: FakeProcessReactor,
    target: int = 2,
    ttl: TTLRange | None = DEFAULT_TTL,
    grace: float = 10,
) -> WorkerPool:
    return WorkerPool(reactor, COMMAND, target=target, ttl=ttl, grace=grace, random=lambda: 0.5)


@pytest.fixture
def reactor() -> FakeProcessReactor:
    return FakeProcessReactor()


def startReady(reactor: FakeProcessReactor, pool: WorkerPool) -> list[FakeProcess]:
    pool.startService()
    for process in reactor.alive():
        process.send("ready")
    return reactor.alive()


def test_startSpawnsTargetWorkersWithTheSharedSockets(reactor):
    """Starting spawns C{target} workers, each given the control pipes and the listening fd."""
    makePool(reactor, target=3).startService()
    assert len(reactor.processes) == 3
    process = reactor.processes[0]
    assert process.args == ["/py", "-m", "recycler.worker"]
    assert process.env == {"A": "1"}
    assert process.childFDs == {0: "w", 1: "r", 2: "r", 3: "w", 4: "r", 5: 7}
    assert process.closedFDs == [0]


def test_workerIdsAreNeverReused(reactor):
    """Every spawned worker gets a new id, also after others exited."""
    pool = makePool(reactor)
    startReady(reactor, pool)
    reactor.processes[0].exit(1)
    assert sorted(pool.workers) == [2, 3]


def test_ttlIsArmedOnlyOnceReady(reactor):
    """The TTL (drawn at spawn) starts counting when the worker reports ready."""
    pool = makePool(reactor, target=1)
    pool.startService()
    process = reactor.processes[0]
    reactor.advance(100)
    assert process.commands() == []
    process.send("ready")
    reactor.advance(2.999)
    assert process.commands() == []
    reactor.advance(0.001)
    assert process.commands() == ["drain"]
    assert pool.workers[1].state is WorkerState.DRAINING
    assert pool.workers[1].drainReason == "ttl"


def test_ttlIsDrawnFromTheRange(reactor):
    """Each worker's lifetime comes from the TTL range and the injected randomness."""
    pool = makePool(reactor, target=1, ttl=DEFAULT_TTL)
    pool.startService()
    assert pool.workers[1].ttl == 3.0


def test_noTtlMeansWorkersLiveOn(reactor):
    """With the TTL off, a ready worker is never asked to drain."""
    pool = makePool(reactor, target=1, ttl=None)
    startReady(reactor, pool)
    reactor.advance(10_000)
    assert reactor.processes[0].commands() == []


def test_replacementIsSpawnedWhenTheDrainedWorkerExits(reactor):
    """A recycled worker is replaced in processEnded, and the pool is full again."""
    pool = makePool(reactor, target=2)
    startReady(reactor, pool)
    reactor.advance(3)
    assert len(reactor.processes) == 2
    reactor.processes[0].exit(0)
    assert len(reactor.processes) == 3
    assert len(pool.workers) == 2
    assert reactor.processes[2].args == COMMAND.args


def test_graceExpiryKillsTheWorker(reactor):
    """A draining worker still alive after C{grace} is killed with SIGKILL."""
    pool = makePool(reactor, target=1, grace=10)
    [process] = startReady(reactor, pool)
    reactor.advance(3)
    reactor.advance(9.9)
    assert process.signals == []
    reactor.advance(0.1)
    assert process.signals == ["KILL"]
    assert process.ended


def test_exitCancelsTheKill(reactor):
    """A worker that exits before its grace runs out is never signalled afterwards."""
    pool = makePool(reactor, target=1, grace=10)
    [process] = startReady(reactor, pool)
    reactor.advance(3)
    process.exit(0)
    assert reactor.getDelayedCalls() == [], "the replacement is not ready: no timer at all"
    reactor.advance(100)
    assert process.signals == []


def test_earlyDeathCancelsTheTtl(reactor):
    """A worker that dies on its own has its TTL cancelled, and is replaced at once."""
    pool = makePool(reactor, target=1)
    [process] = startReady(reactor, pool)
    process.exit(signal=11)
    assert len(reactor.processes) == 2
    reactor.advance(3)
    assert process.commands() == []


def test_crashBeforeReadyBacksOff(reactor):
    """Workers dying before ready are respawned after growing delays, one probe at a time."""
    pool = makePool(reactor, target=2)
    pool.startService()
    with capturedLogs() as events:
        reactor.processes[0].send("failed", reason="cannot import 'x'")
        reactor.processes[0].exit(3)
        reactor.processes[1].exit(3)
    errors = [e for e in events if e["log_level"].name == "error"]
    assert len(errors) == 1, "the reason is logged once per streak"
    assert "exit code 3: cannot import 'x'" in errors[0]["why"]
    assert len(reactor.alive()) == 0
    # 0.5 s doubling per failure, plus jitter (0.25 s with random() == 0.5)
    reactor.advance(0.74)
    assert len(reactor.alive()) == 0
    reactor.advance(0.01)
    assert len(reactor.alive()) == 1, "a single probe worker"
    reactor.alive()[0].exit(3)
    reactor.advance(2.24)
    assert len(reactor.alive()) == 0, "the third failure waits 2 s + jitter"
    reactor.advance(0.01)
    assert len(reactor.alive()) == 1


def test_recoveryResetsTheBackoff(reactor):
    """Once a worker becomes ready again, the pool fills up at once and the streak resets."""
    pool = makePool(reactor, target=3)
    pool.startService()
    reactor.processes[0].exit(3)
    reactor.advance(1)
    probe = reactor.alive()[-1]
    probe.send("ready")
    assert pool.crashStreak == 0
    assert len(pool.workers) == 3


def test_spawnFailureIsRetried(reactor):
    """An OSError from spawnProcess is logged and retried with backoff."""
    pool = makePool(reactor, target=1)
    reactor.spawnError = OSError("EAGAIN")
    pool.startService()
    assert pool.workers == {}
    reactor.spawnError = None
    reactor.advance(1)
    assert len(pool.workers) == 1


def test_stopDrainsAllAndWaitsForExit(reactor):
    """Stopping drains every worker, spawns nothing more, and fires once all exited."""
    pool = makePool(reactor, target=2)
    processes = startReady(reactor, pool)
    stopped = pool.stopService()
    assert [p.commands() for p in processes] == [["drain"], ["drain"]]
    processes[0].exit(0)
    assert not stopped.called
    processes[1].exit(0)
    assert stopped.called
    assert len(reactor.processes) == 2


def test_stopKillsWorkersThatDoNotDrain(reactor):
    """A worker that ignores the drain is killed after C{grace}, then the stop completes."""
    pool = makePool(reactor, target=1, grace=5)
    [process] = startReady(reactor, pool)
    stopped = pool.stopService()
    reactor.advance(5)
    assert process.signals == ["KILL"]
    assert stopped.called


def test_stopCancelsPendingRespawn(reactor):
    """A respawn waiting out its backoff does not happen once the pool stops."""
    pool = makePool(reactor, target=1)
    pool.startService()
    reactor.processes[0].exit(3)
    assert pool.stopService().called
    reactor.advance(100)
    assert len(reactor.processes) == 1


def test_workerStartingDuringStopIsDrained(reactor):
    """A worker still starting when the pool stops gets the drain command too."""
    pool = makePool(reactor, target=1)
    pool.startService()
    pool.stopService()
    assert reactor.processes[0].commands() == ["drain"]


def test_statusUpdatesCounters(reactor):
    """Status events update served and in-flight counts; malformed lines are ignored."""
    pool = makePool(reactor, target=1)
    [process] = startReady(reactor, pool)
    process.send("status", served=12, inFlight=3)
    process.output(b"not json\n", fd=messages.EVENT_FD)
    worker = pool.workers[1]
    assert (worker.served, worker.inFlight) == (12, 3)


def test_outputIsRelayedWithTheWorkerId(reactor):
    """Worker stdout/stderr lines reach the master's log, tagged with the worker id."""
    pool = makePool(reactor, target=1)
    pool.startService()
    with capturedLogs() as events:
        reactor.processes[0].output(b"hello\npartial", fd=2)
        reactor.processes[0].exit(1)
    relayed = [(e["workerId"], e["line"], e["stream"]) for e in events if "line" in e]
    assert relayed == [(1, "hello", "stderr"), (1, "partial", "stderr")]


def test_lifecycleIsLogged(reactor):
    """Born, ready, draining and exited are logged as structured events."""
    pool = makePool(reactor, target=1)
    with capturedLogs() as events:
        [process] = startReady(reactor, pool)
        reactor.advance(3)
        process.exit(0)
    kinds = [e.get("event") for e in events if e.get("workerId") == 1]
    assert kinds == ["born", "ready", "draining", "exited", "respawn"]
    assert events[0]["pid"] == 1000
