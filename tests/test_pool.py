"""Unit tests of the pool's decisions, driven by a fake process reactor and a clock."""

from __future__ import annotations

import pytest
from twisted.internet.error import ProcessDone
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from recycler import wire
from recycler.master.policy import TTLRange
from recycler.master.pool import PoolConfig, PoolError, WorkerCommand, WorkerPool
from recycler.master.workerprocess import WorkerState
from recycler.testing import FakeProcess, FakeProcessReactor

COMMAND = WorkerCommand("/py", ["/py", "-m", "recycler.worker"], {"A": "1"}, [7])
TTL_2_4 = TTLRange(2, 4)


def makePool(reactor: FakeProcessReactor, memory=None, random=lambda: 0.5, **config) -> WorkerPool:
    """A pool of 2 workers, TTL 2-4 s (3 s with random() == 0.5), no hang checks."""
    defaults = dict(target=2, ttl=TTL_2_4, grace=10, overlap=False, timeout=None, bootTimeout=None)
    return WorkerPool(
        reactor,
        COMMAND,
        PoolConfig(**{**defaults, **config}),
        random=random,
        memoryOf=({} if memory is None else memory).get,
    )


@pytest.fixture
def reactor() -> FakeProcessReactor:
    return FakeProcessReactor()


def startReady(reactor: FakeProcessReactor, pool: WorkerPool) -> list[FakeProcess]:
    pool.startService()
    return makeReady(reactor)


def makeReady(reactor: FakeProcessReactor) -> list[FakeProcess]:
    """Every starting process reports ready."""
    for process in reactor.alive():
        if process.protocol.state is WorkerState.STARTING:
            process.send("ready")
    return reactor.alive()


def serving(pool: WorkerPool) -> int:
    """Workers ready and not draining."""
    return pool.countByState()[WorkerState.READY]


# Spawning and the TTL


def test_startSpawnsTargetWorkersWithTheSharedSockets(reactor):
    """Starting spawns C{target} workers, each given the control pipes and the listening fd."""
    makePool(reactor, target=3).startService()
    assert len(reactor.processes) == 3
    process = reactor.processes[0]
    assert process.args == ["/py", "-m", "recycler.worker", "--listeners", "1"]
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
    assert pool.workers[1].ttlLeft(reactor.seconds()) == 3
    reactor.advance(2.999)
    assert process.commands() == []
    reactor.advance(0.001)
    assert process.commands() == ["drain"]
    assert pool.workers[1].state is WorkerState.DRAINING
    assert pool.workers[1].recycleReason == "ttl"


def test_ttlIsDrawnOnceFromTheRange(reactor):
    """Each worker's lifetime is drawn once, at spawn, from the range and the randomness."""
    draws = iter([0.0, 0.5, 1.0])
    pool = makePool(reactor, target=3, random=lambda: next(draws))
    pool.startService()
    assert [w.limits.ttl for w in pool.workers.values()] == [2, 3, 4]


def test_noTtlMeansWorkersLiveOn(reactor):
    """With the TTL off, a ready worker is never asked to drain."""
    pool = makePool(reactor, target=1, ttl=None)
    startReady(reactor, pool)
    reactor.advance(10_000)
    assert reactor.processes[0].commands() == []


def test_ttlChangeAppliesToNewWorkers(reactor):
    """Setting C{pool.ttl} changes the lifetime of workers spawned afterwards only."""
    pool = makePool(reactor, target=1)
    startReady(reactor, pool)
    pool.ttl = TTLRange(10, 10)
    reactor.processes[0].exit(1)
    assert pool.workers[2].limits.ttl == 10


# Overlap, the recycle queue


def test_withoutOverlapTheReplacementStartsAtTheDrain(reactor):
    """With overlap off, an expired worker drains at once and its replacement starts."""
    pool = makePool(reactor, target=2)
    startReady(reactor, pool)
    reactor.advance(3)
    assert reactor.processes[0].commands() == ["drain"]
    assert len(reactor.alive()) == 3


def test_overlapDrainsOnlyOnceTheReplacementIsReady(reactor):
    """With overlap on, the replacement starts first; the old worker drains when it is ready."""
    pool = makePool(reactor, target=2, overlap=True)
    first, second = startReady(reactor, pool)
    reactor.advance(3)
    assert first.commands() == [] and second.commands() == []
    replacement = reactor.processes[2]
    assert serving(pool) == 2
    replacement.send("ready")
    assert first.commands() == ["drain"]
    assert serving(pool) == 2


def test_overlapNeverDropsBelowTargetWhenAllExpireTogether(reactor):
    """When every TTL expires at once, recycles queue up and ready workers never dip."""
    pool = makePool(reactor, target=4, overlap=True, ttl=TTLRange(2, 2))
    startReady(reactor, pool)
    reactor.advance(2)
    for _ in range(4):
        assert serving(pool) >= 4
        assert len(reactor.alive()) <= 5, "one recycle at a time: at most one extra process"
        [replacement] = [p for p in reactor.alive() if p.protocol.state is WorkerState.STARTING]
        replacement.send("ready")
        [drained] = [p for p in reactor.alive() if p.commands() == ["drain"]]
        assert serving(pool) >= 4
        drained.exit(0)
    assert {w.workerId for w in pool.workers.values()} == {5, 6, 7, 8}


def test_maxDrainingQueuesCoincidingRecycles(reactor):
    """Without overlap, at most C{maxDraining} workers drain at once; the rest wait."""
    pool = makePool(reactor, target=4, ttl=TTLRange(2, 2), maxDraining=2)
    processes = startReady(reactor, pool)
    reactor.advance(2)
    assert [p.commands() for p in processes] == [["drain"], ["drain"], [], []]
    processes[0].exit(0)
    assert processes[2].commands() == ["drain"]
    assert processes[3].commands() == []


def test_failingReplacementKeepsTheOldWorkerServing(reactor):
    """If a replacement dies before ready, the worker it was to replace keeps serving."""
    pool = makePool(reactor, target=1, overlap=True)
    [old] = startReady(reactor, pool)
    reactor.advance(3)
    reactor.processes[1].exit(3)
    reactor.advance(60)
    assert old.commands() == []
    assert pool.crashStreak >= 1
    makeReady(reactor)
    assert old.commands() == ["drain"]


# Triggers


def test_maxRequestsWithJitter(reactor):
    """A worker is recycled once it served max-requests plus its drawn jitter."""
    pool = makePool(reactor, target=1, ttl=None, maxRequests=100, maxRequestsJitter=10)
    [process] = startReady(reactor, pool)
    assert pool.workers[1].limits.maxRequests == 105
    process.send("status", served=104, inFlight=1)
    assert process.commands() == []
    process.send("status", served=105, inFlight=0)
    assert process.commands() == ["drain"]
    assert pool.workers[1].recycleReason == "max-requests"


def test_jitterSpreadsLimits(reactor):
    """Jitter is drawn per worker, uniformly over 0..J."""
    draws = iter([0.0, 0.5, 0.999])
    pool = makePool(
        reactor,
        target=3,
        ttl=None,
        maxRequests=100,
        maxRequestsJitter=10,
        random=lambda: next(draws),
    )
    pool.startService()
    assert [w.limits.maxRequests for w in pool.workers.values()] == [100, 105, 110]


def test_memoryTriggerNeedsTwoSamplesInARow(reactor):
    """A worker over max-rss on two consecutive samples is recycled; one spike is forgiven."""
    memory = {}
    pool = makePool(reactor, target=1, ttl=None, maxRss=100, rssInterval=5, memory=memory)
    [process] = startReady(reactor, pool)
    memory[process.pid] = 150
    reactor.advance(5)
    memory[process.pid] = 50
    reactor.advance(5)
    memory[process.pid] = 150
    reactor.advance(5)
    assert process.commands() == []
    reactor.advance(5)
    assert process.commands() == ["drain"]
    assert pool.workers[1].recycleReason == "max-rss"


def test_hungWorkerIsKilledAndReplaced(reactor):
    """A ready worker silent for C{timeout} is SIGKILLed and replaced at once."""
    pool = makePool(reactor, target=1, ttl=None, timeout=5)
    [process] = startReady(reactor, pool)
    reactor.advance(4)
    process.send("status", served=1, inFlight=0)
    reactor.advance(4.9)
    assert process.signals == []
    reactor.advance(0.1)
    assert process.signals == ["KILL"]
    assert len(reactor.alive()) == 1, "replaced at once, no backoff"
    assert pool.stats()["recycles"] == {"timeout": 1}


def test_slowBootIsNotAHang(reactor):
    """A starting worker is judged by the boot timeout, not the hang timeout."""
    pool = makePool(reactor, target=1, ttl=None, timeout=5, bootTimeout=60)
    pool.startService()
    reactor.advance(59)
    [process] = reactor.alive()
    assert process.signals == []
    process.send("ready")
    reactor.advance(4)
    assert process.signals == []


def test_bootTimeoutKillsAndBacksOff(reactor):
    """A worker not ready by the boot timeout is killed and counts as a failed start."""
    pool = makePool(reactor, target=1, bootTimeout=60)
    pool.startService()
    reactor.advance(60)
    assert reactor.processes[0].signals == ["KILL"]
    assert pool.crashStreak == 1
    assert pool.nextRespawnIn() == pytest.approx(0.75)


# Crashes


def test_earlyDeathCancelsTheTtl(reactor):
    """A worker that dies on its own has its TTL cancelled, and is replaced at once."""
    pool = makePool(reactor, target=1)
    [process] = startReady(reactor, pool)
    process.exit(signal=11)
    assert len(reactor.processes) == 2
    reactor.advance(3)
    assert process.commands() == []


def test_crashBeforeReadyBacksOff(reactor):
    """
    Workers dying before ready are respawned after growing delays (per retry,
    however many workers of a batch failed), one probe at a time.
    """
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
    reactor.advance(1.24)
    assert len(reactor.alive()) == 0, "the second retry waits 1 s + jitter"
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
    assert pool.nextRespawnIn() is None
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
    assert pool.stats()["spawnFailures"] == 1


def test_startingWorkerQueuedForReloadThatCrashesBacksOff(reactor):
    """A worker queued for reload that dies on its own before ready is a crash, not a reload."""
    pool = makePool(reactor, target=1)
    pool.startService()
    pool.reload()
    reactor.processes[0].exit(3)
    assert pool.crashStreak == 1
    assert pool.stats()["recycles"] == {"crash": 1}


def test_exitedWorkerWithOpenPipesIsNoLongerCapacity(reactor):
    """
    A worker whose process exited while a subprocess holds its pipes is not
    signalled any more, stops counting, and its pipes are closed a moment later.
    """
    pool = makePool(reactor, target=1, ttl=None, timeout=5)
    [process] = startReady(reactor, pool)
    process.protocol.processExited(Failure(ProcessDone(0)))
    reactor.advance(5)
    assert process.signals == []
    assert pool._active() == []
    assert {1, 2, 4} <= set(process.closedFDs)


def test_killedWorkerIsNotCapacity(reactor):
    """A worker sent SIGKILL but not yet reaped no longer counts as ready."""
    pool = makePool(reactor, target=2)
    first, _ = startReady(reactor, pool)
    first.signalProcess = lambda signal: first.signals.append(signal)  # reaped later
    pool.kill(1, now=True, force=True)
    assert serving(pool) == 2, "still reported ready until it exits"
    assert len(reactor.alive()) == 3, "but its replacement is already starting"


# Draining, killing, stopping


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


# Operator requests


def test_killDrainsAfterItsReplacementIsReady(reactor):
    """C{kill ID} starts a replacement and drains the worker once it is ready."""
    pool = makePool(reactor, target=2)
    first, _ = startReady(reactor, pool)
    pool.kill(1)
    assert first.commands() == []
    makeReady(reactor)
    assert first.commands() == ["drain"]
    assert pool.workers[1].recycleReason == "manual"


def test_killNowRefusesToLowerCapacity(reactor):
    """C{kill ID --now} is refused when it would leave fewer than target ready, unless forced."""
    pool = makePool(reactor, target=2)
    first, _ = startReady(reactor, pool)
    with pytest.raises(PoolError, match="--force"):
        pool.kill(1, now=True)
    assert first.signals == []
    pool.kill(1, now=True, force=True)
    assert first.signals == ["KILL"]


def test_killUnknownOrExitedWorker(reactor):
    """Killing an id that never existed or already exited is a clear error."""
    pool = makePool(reactor, target=1)
    [process] = startReady(reactor, pool)
    process.exit(1)
    with pytest.raises(PoolError, match="worker 1 has exited"):
        pool.kill(1)
    with pytest.raises(PoolError, match="worker 99 does not exist"):
        pool.kill(99)


def test_scaleGrowsAtOnceAndShrinksOldestFirst(reactor):
    """C{scale} spawns at once when growing and drains the oldest workers when shrinking."""
    pool = makePool(reactor, target=2)
    startReady(reactor, pool)
    pool.scale(4)
    assert len(reactor.alive()) == 4
    makeReady(reactor)
    pool.scale(1)
    assert [p.commands() for p in reactor.processes] == [["drain"], ["drain"], ["drain"], []]
    assert pool.workers[1].recycleReason == "scale"
    with pytest.raises(PoolError, match="between 1 and"):
        pool.scale(0)


def test_scaleDownDrainsStartingWorkersFirst(reactor):
    """Shrinking drains workers still starting (newest first) before ready ones."""
    pool = makePool(reactor, target=2)
    startReady(reactor, pool)
    pool.scale(4)
    pool.scale(3)
    assert [p.commands() for p in reactor.processes] == [[], [], [], ["drain"]]


def test_scaleResumesTheRecycleQueue(reactor):
    """Scaling down after a failed replacement drains the worker waiting to be replaced."""
    pool = makePool(reactor, target=3, overlap=True, ttl=None)
    startReady(reactor, pool)
    pool.reload()
    reactor.processes[3].exit(3)
    pool.scale(2)
    reactor.advance(100)
    assert reactor.processes[0].commands() == ["drain"]


def test_forceGoesWithNow(reactor):
    """--force without --now is refused: a plain kill never lowers capacity anyway."""
    pool = makePool(reactor, target=1)
    startReady(reactor, pool)
    with pytest.raises(PoolError, match="--force goes with --now"):
        pool.kill(1, force=True)


def test_spawnAddsWorkers(reactor):
    """C{spawn N} raises the target by N."""
    pool = makePool(reactor, target=2)
    startReady(reactor, pool)
    pool.spawn(2)
    assert pool.target == 4
    assert len(reactor.alive()) == 4


def test_reloadReplacesEveryWorkerKeepingCapacity(reactor):
    """C{reload} replaces every worker, one at a time, never below target ready."""
    pool = makePool(reactor, target=3, ttl=None)
    old = startReady(reactor, pool)
    pool.reload()
    while any(not p.ended for p in old):
        assert serving(pool) >= 3
        makeReady(reactor)
        for process in reactor.alive():
            if process.commands() == ["drain"]:
                process.exit(0)
    assert serving(pool) == 3
    assert pool.stats()["recycles"] == {"reload": 3}


def test_statsStayMonotonic(reactor):
    """Requests served by exited workers stay counted in the pool totals."""
    pool = makePool(reactor, target=1, ttl=None)
    [process] = startReady(reactor, pool)
    process.send("status", served=10, inFlight=2)
    assert pool.stats()["served"] == 10
    process.exit(0)
    makeReady(reactor)
    reactor.alive()[0].send("status", served=5, inFlight=0)
    stats = pool.stats()
    assert (stats["served"], stats["born"], stats["exited"]) == (15, 2, 1)
    assert stats["states"] == {"starting": 0, "ready": 1, "draining": 0}


def test_observersSeeWorkerEvents(reactor):
    """Observers receive born/ready/draining/exited events until removed."""
    pool = makePool(reactor, target=1)
    seen = []
    pool.addObserver(seen.append)
    [process] = startReady(reactor, pool)
    reactor.advance(3)
    pool.removeObserver(seen.append)
    process.exit(0)
    assert [e["event"] for e in seen] == ["born", "ready", "draining", "born"]


def test_observerMayReadStatsOnEveryEvent(reactor):
    """An observer can call stats() on every event, the exited one included."""
    pool = makePool(reactor, target=1)
    seen = []
    pool.addObserver(lambda event: seen.append((event["event"], pool.stats()["states"])))
    [process] = startReady(reactor, pool)
    process.exit(1)
    assert [kind for kind, _ in seen] == ["born", "ready", "exited", "respawn", "born"]


def test_failingObserverIsRemoved(reactor):
    """An observer that raises is logged and dropped; the pool and other observers go on."""
    pool = makePool(reactor, target=1)
    seen = []

    def broken(event):
        raise RuntimeError("boom")

    pool.addObserver(broken)
    pool.addObserver(seen.append)
    with capturedLogs() as events:
        startReady(reactor, pool)
    assert [e["event"] for e in seen] == ["born", "ready"]
    assert sum(1 for e in events if "log_failure" in e) == 1


# Counters and logs


def test_statusUpdatesCounters(reactor):
    """Status events update served and in-flight counts; malformed lines are ignored."""
    pool = makePool(reactor, target=1)
    [process] = startReady(reactor, pool)
    process.send("status", served=12, inFlight=3)
    process.output(b"not json\n", fd=wire.EVENT_FD)
    process.send("status", served="many")
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
    """Born, ready, draining, exited and respawn are logged as structured events."""
    pool = makePool(reactor, target=1)
    with capturedLogs() as events:
        [process] = startReady(reactor, pool)
        reactor.advance(3)
        process.exit(0)
    kinds = [e.get("event") for e in events if e.get("workerId") == 1]
    assert kinds == ["born", "ready", "draining", "exited", "respawn"]
    assert events[0]["pid"] == 1000
