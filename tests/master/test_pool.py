"""Tests of L{recycler.master.pool}: the pool's decisions, on a fake process reactor."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.backoff import GIVE_UP_AFTER
from recycler.master.config import MAX_STARTING, MAX_WORKERS, PoolConfig, PoolError
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.handle import STACK_DUMP_WAIT
from recycler.master.lifecycle import WorkerState
from recycler.master.policy import TTLRange
from recycler.master.pool import WorkerPool
from recycler.master.spawn import WorkerCommand
from recycler.master.stats import PoolStats
from recycler.master.triggers import TriggerConfig
from recycler.testing import FakeProcess, FakeProcessReactor


class FakeListeners:
    """The shared sockets: one, as fd 7 in the master."""

    def filenos(self) -> list[int]:
        return [7]


COMMAND = WorkerCommand("/py", [], {"A": "1"}, FakeListeners())
TTL_2_4 = TTLRange(2, 4)
POOL_SETTINGS = ("target", "grace", "overlap", "maxDraining")


class PoolTestCase(SynchronousTestCase):
    """A fake process reactor (with its clock) and helpers to build and drive a pool."""

    def setUp(self) -> None:
        self.reactor = FakeProcessReactor()

    def makePool(
        self,
        memory: dict[int | None, int] | None = None,
        random: Any = lambda: 0.5,
        **settings: Any,
    ) -> WorkerPool:
        """
        A pool of 2 workers, TTL 2-4 s (3 s with random() == 0.5), grace 10 s,
        no overlap, no hang or boot checks; C{settings} override any of these,
        of L{PoolConfig} or of L{TriggerConfig}.
        """
        settings = {
            "target": 2,
            "grace": 10,
            "overlap": False,
            "ttl": TTL_2_4,
            "heartbeatTimeout": None,
            "bootTimeout": None,
            **settings,
        }
        pool = {name: settings.pop(name) for name in POOL_SETTINGS if name in settings}
        config = PoolConfig(**pool, triggers=TriggerConfig(**settings))
        memory = {} if memory is None else memory
        return WorkerPool(self.reactor, COMMAND, config, random=random, memoryOf=memory.get)

    def startReady(self, pool: WorkerPool) -> list[FakeProcess]:
        """Start the pool; every worker reports ready."""
        pool.startService()
        return self.makeReady()

    def makeReady(self) -> list[FakeProcess]:
        """Every starting process reports ready."""
        for process in self.reactor.alive():
            if process.protocol.state is WorkerState.STARTING:
                process.send(wire.Event.READY)
        return self.reactor.alive()

    def observe(self, pool: WorkerPool) -> list[dict[str, Any]]:
        """Every event on the pool's channel, from now on."""
        seen: list[dict[str, Any]] = []
        pool.events.addObserver(seen.append)
        return seen

    def states(self, pool: WorkerPool) -> dict[int, WorkerState]:
        return {workerId: worker.state for workerId, worker in pool.workers.items()}


def kinds(events: list[dict[str, Any]], workerId: int | None = None) -> list[str]:
    """The lifecycle events among C{events} (of one worker, if given)."""
    return [
        e["event"]
        for e in events
        if "event" in e and (workerId is None or e.get("workerId") == workerId)
    ]


class SpawningTests(PoolTestCase):
    """Spawning workers, and the lifetime each one is given."""

    def test_startSpawnsTargetWorkersWithTheSharedSockets(self) -> None:
        """Starting spawns C{target} workers, each given the control pipes and the listening fd."""
        self.makePool(target=3).startService()
        self.assertEqual(len(self.reactor.processes), 3)
        process = self.reactor.processes[0]
        self.assertEqual(process.executable, "/py")
        self.assertEqual(
            process.args, ["/py", "-m", "recycler.worker", "--listeners", "1", "--id", "1"]
        )
        self.assertEqual(process.env, {"A": "1"})
        self.assertEqual(process.childFDs, {0: "w", 1: "r", 2: "r", 3: "w", 4: "r", 5: 7})
        self.assertEqual(process.closedFDs, [0])

    def test_nothingIsSpawnedBeforeStart(self) -> None:
        """A pool that is not started spawns nothing, even when asked to scale."""
        pool = self.makePool()
        pool.scale(3)
        self.assertEqual(self.reactor.processes, [])
        self.assertEqual(pool.target, 3)

    def test_workerIdsAreNeverReused(self) -> None:
        """Every spawned worker gets a new id, also after others exited."""
        pool = self.makePool()
        self.startReady(pool)
        self.reactor.processes[0].exit(1)
        self.assertEqual(sorted(pool.workers), [2, 3])

    def test_ttlIsArmedOnlyOnceReady(self) -> None:
        """The TTL (drawn at spawn) starts counting when the worker reports ready."""
        pool = self.makePool(target=1)
        pool.startService()
        process = self.reactor.processes[0]
        self.reactor.advance(100)
        self.assertEqual(process.commands(), [])
        self.assertIsNone(pool.workers[1].ttlLeft(self.reactor.seconds()))
        process.send(wire.Event.READY)
        self.assertEqual(pool.workers[1].ttlLeft(self.reactor.seconds()), 3)
        self.reactor.advance(2.75)
        self.assertEqual(process.commands(), [])
        self.reactor.advance(0.25)
        self.assertEqual(process.commands(), ["drain"])
        self.assertIs(pool.workers[1].state, WorkerState.DRAINING)
        self.assertEqual(pool.workers[1].stopReason, StopReason.TTL)

    def test_ttlIsDrawnOnceFromTheRange(self) -> None:
        """Each worker's lifetime is drawn once, at spawn, from the range and the randomness."""
        draws = iter([0.0, 0.5, 1.0])
        pool = self.makePool(target=3, random=lambda: next(draws))
        pool.startService()
        self.assertEqual([w.ttl for w in pool.workers.values()], [2, 3, 4])

    def test_noTtlMeansWorkersLiveOn(self) -> None:
        """With the TTL off, a ready worker is never asked to drain."""
        pool = self.makePool(target=1, ttl=None)
        self.startReady(pool)
        self.reactor.advance(10_000)
        self.assertEqual(self.reactor.processes[0].commands(), [])
        self.assertIsNone(pool.workers[1].ttl)

    def test_ttlChangeAppliesToNewWorkers(self) -> None:
        """C{setTTL} changes the lifetime of workers spawned afterwards only."""
        pool = self.makePool(target=1)
        self.startReady(pool)
        self.reactor.advance(1)
        pool.setTTL(TTLRange(10, 10))
        self.assertEqual(pool.ttl, TTLRange(10, 10))
        self.assertEqual(pool.workers[1].ttl, 3)
        self.assertEqual(pool.workers[1].ttlLeft(self.reactor.seconds()), 2)
        self.reactor.processes[0].exit(1)
        self.assertEqual(pool.workers[2].ttl, 10)
        pool.setTTL(None)
        self.assertIsNone(pool.ttl)
        self.makeReady()
        self.reactor.processes[1].exit(1)
        self.assertIsNone(pool.workers[3].ttl)

    def test_setTTLIsLogged(self) -> None:
        """A TTL change is logged, old and new, 'off' for none."""
        pool = self.makePool(target=1)
        with capturedLogs() as events:
            pool.setTTL(TTLRange(10, 20))
            pool.setTTL(None)
            pool.setTTL(TTLRange(1, 1))
        self.assertEqual(
            [formatEvent(e) for e in events],
            ["ttl: 2:4 -> 10:20", "ttl: 10:20 -> off", "ttl: off -> 1:1"],
        )

    def test_configDefaultsAreNeutral(self) -> None:
        """
        A pool built from C{PoolConfig()} keeps one worker and never recycles a
        healthy one: no TTL, no request or memory limit.
        """
        config = PoolConfig()
        self.assertEqual(config.target, 1)
        self.assertEqual(config.triggers, TriggerConfig())
        self.assertIsNone(config.triggers.ttl)
        self.assertIsNone(config.triggers.maxRequests)
        self.assertIsNone(config.triggers.maxRss)
        pool = WorkerPool(self.reactor, COMMAND, config, memoryOf=lambda pid: 10**12)
        self.assertIsNone(pool.ttl)
        seen = self.observe(pool)
        [process] = self.startReady(pool)
        for served in range(1, 1000):
            self.reactor.advance(1)
            process.send(wire.Event.STATUS, served=served * 1000, inFlight=0)
        self.assertEqual(process.commands(), [])
        self.assertEqual(process.signals, [])
        self.assertEqual(seen[0]["ttl"], "off")
        self.assertIsNone(seen[0]["maxRequests"])


class OverlapTests(PoolTestCase):
    """Recycling with and without overlap, and the recycle queue."""

    def test_withoutOverlapTheReplacementStartsAtTheDrain(self) -> None:
        """With overlap off, an expired worker drains at once and its replacement starts."""
        pool = self.makePool(target=2)
        self.startReady(pool)
        self.reactor.advance(3)
        self.assertEqual(self.reactor.processes[0].commands(), ["drain"])
        self.assertEqual(len(self.reactor.alive()), 3)

    def test_overlapDrainsOnlyOnceTheReplacementIsReady(self) -> None:
        """With overlap on, the replacement starts first; the old worker drains when it is ready."""
        pool = self.makePool(target=2, overlap=True)
        first, second = self.startReady(pool)
        self.reactor.advance(3)
        self.assertEqual(first.commands(), [])
        self.assertEqual(second.commands(), [])
        self.assertEqual(pool.stats().ready, 2)
        self.reactor.processes[2].send(wire.Event.READY)
        self.assertEqual(first.commands(), ["drain"])
        self.assertEqual(pool.stats().ready, 2)

    def test_retiringWorkerIsNotCounted(self) -> None:
        """
        A ready worker the pool retires shows RETIRING, keeps serving, and no
        longer counts toward the target: its replacement starts at once.
        """
        pool = self.makePool(target=2, overlap=True)
        self.startReady(pool)
        self.reactor.advance(3)
        retiring = pool.workers[1]
        self.assertIs(retiring.state, WorkerState.RETIRING)
        self.assertFalse(retiring.state.counted)
        self.assertEqual(retiring.state.phase, "ready")
        self.assertEqual(retiring.stopReason, StopReason.TTL)
        self.assertEqual(
            self.states(pool),
            {1: WorkerState.RETIRING, 2: WorkerState.READY, 3: WorkerState.STARTING},
        )
        stats = pool.stats()
        self.assertEqual((stats.starting, stats.ready, stats.draining), (1, 2, 0))

    def test_overlapNeverDropsBelowTargetWhenAllExpireTogether(self) -> None:
        """When every TTL expires at once, recycles queue up and ready workers never dip."""
        pool = self.makePool(target=4, overlap=True, ttl=TTLRange(2, 2))
        self.startReady(pool)
        self.reactor.advance(2)
        for _ in range(4):
            self.assertGreaterEqual(pool.stats().ready, 4)
            self.assertLessEqual(
                len(self.reactor.alive()), 5, "one recycle at a time: at most one extra process"
            )
            [replacement] = [
                p for p in self.reactor.alive() if p.protocol.state is WorkerState.STARTING
            ]
            replacement.send(wire.Event.READY)
            [drained] = [p for p in self.reactor.alive() if p.commands() == ["drain"]]
            self.assertGreaterEqual(pool.stats().ready, 4)
            drained.exit(0)
        self.assertEqual(set(pool.workers), {5, 6, 7, 8})

    def test_maxDrainingQueuesCoincidingRecycles(self) -> None:
        """Without overlap, at most C{maxDraining} workers drain at once; the rest wait."""
        pool = self.makePool(target=4, ttl=TTLRange(2, 2), maxDraining=2)
        processes = self.startReady(pool)
        self.reactor.advance(2)
        self.assertEqual([p.commands() for p in processes], [["drain"], ["drain"], [], []])
        processes[0].exit(0)
        self.assertEqual(processes[2].commands(), ["drain"])
        self.assertEqual(processes[3].commands(), [])

    def test_theDrainHoldsNoSlot(self) -> None:
        """
        A recycle frees its slot once its replacement is ready: the next one
        starts while the old worker is still draining, so the recycle rate
        follows the TTLs rather than the drains.
        """
        pool = self.makePool(target=2, overlap=True, ttl=TTLRange(2, 2), maxDraining=1)
        first, _ = self.startReady(pool)
        self.reactor.advance(2)
        self.assertIs(pool.workers[1].state, WorkerState.RETIRING)
        self.assertIs(pool.workers[2].state, WorkerState.READY, "queued behind the first")
        self.makeReady()
        self.assertIs(pool.workers[1].state, WorkerState.DRAINING)
        self.assertFalse(first.ended)
        self.assertIs(pool.workers[2].state, WorkerState.RETIRING)

    def test_slowReplacementsWithShortTTLsDoNotGrowThePool(self) -> None:
        """
        Replacements slower than the TTLs (a loaded machine: 2.2 s start-ups,
        TTLs of 1-2 s) with 8 recycles at once: each replacement that becomes
        ready lets the oldest retiring worker drain, so exactly C{target}
        workers serve at every step. (Draining only once C{target} workers
        were READY let replacements that retired at once hold the others: the
        pool grew to 15 serving workers, and to 63 of 32 in the benchmark.)
        """
        draw = random.Random(1).random
        pool = self.makePool(target=8, overlap=True, ttl=TTLRange(1, 2), maxDraining=8, random=draw)
        self.startReady(pool)
        since: dict[tuple[str, int | None], float] = {}
        for _ in range(200):
            self.reactor.advance(0.1)
            now = self.reactor.seconds()
            for process in self.reactor.alive():
                state = process.protocol.state
                started = since.setdefault((state.value, process.pid), now)
                if state is WorkerState.STARTING and now - started >= 2.2:
                    process.send(wire.Event.READY)
                elif state is WorkerState.DRAINING and now - started >= 0.3:
                    process.exit(0)
            self.assertEqual(sum(w.state.serving for w in pool.workers.values()), 8)
        self.assertGreaterEqual(pool.stats().exited, 30)

    def test_replacementStartsAStartupEarly(self) -> None:
        """
        With overlap the replacement is spawned a start-up time (a moving
        average of the earlier workers') before the TTL is up, so the old
        worker drains when its time is up rather than a start-up later.
        """
        pool = self.makePool(target=1, overlap=True, ttl=TTLRange(2, 2))
        pool.startService()
        self.reactor.advance(0.5)
        self.makeReady()  # the first start-up: 0.5 s; the estimate becomes 0.1 s
        self.reactor.advance(2)
        self.assertEqual(len(self.reactor.processes), 2, "no estimate yet: at the TTL")
        self.makeReady()
        self.reactor.advance(1.89)
        self.assertEqual(len(self.reactor.processes), 2)
        self.reactor.advance(0.02)
        self.assertEqual(len(self.reactor.processes), 3, "0.1 s before the TTL")
        self.assertIs(pool.workers[2].state, WorkerState.RETIRING)

    def test_withoutOverlapTheSlotIsHeldUntilTheReplacementIsReady(self) -> None:
        """Without overlap a drained worker holds its slot while the pool is short of it."""
        pool = self.makePool(target=2, ttl=TTLRange(2, 2), maxDraining=1)
        first, second = self.startReady(pool)
        self.reactor.advance(2)
        self.assertEqual((first.commands(), second.commands()), (["drain"], []))
        self.makeReady()
        self.assertEqual(second.commands(), ["drain"])
        self.assertFalse(first.ended)

    def test_pendingReason(self) -> None:
        """
        C{pendingReason} says why a worker is stopping, or why it waits in the
        queue; L{None} for a worker neither stopping nor queued.
        """
        pool = self.makePool(target=2, overlap=True, ttl=TTLRange(2, 2))
        self.startReady(pool)
        self.reactor.advance(2)
        first, second, third = pool.workers[1], pool.workers[2], pool.workers[3]
        self.assertEqual(pool.pendingReason(first), StopReason.TTL)
        self.assertIs(second.state, WorkerState.READY)
        self.assertIsNone(second.stopReason)
        self.assertEqual(pool.pendingReason(second), StopReason.TTL)
        self.assertIsNone(pool.pendingReason(third))
        pool.reload()
        self.assertEqual(pool.pendingReason(third), StopReason.RELOAD)
        self.assertEqual(pool.pendingReason(second), StopReason.RELOAD)

    def test_failingReplacementKeepsTheOldWorkerServing(self) -> None:
        """If a replacement dies before ready, the worker it was to replace keeps serving."""
        pool = self.makePool(target=1, overlap=True)
        [old] = self.startReady(pool)
        self.reactor.advance(3)
        self.reactor.processes[1].exit(3)
        self.reactor.advance(60)
        self.assertEqual(old.commands(), [])
        self.assertGreaterEqual(pool.stats().crashStreak, 1)
        self.assertEqual(pool.stats().ready, 1)
        self.makeReady()
        self.assertEqual(old.commands(), ["drain"])


class TriggerTests(PoolTestCase):
    """Request and memory limits, hangs and boot timeouts, through the pool."""

    def test_maxRequestsWithJitter(self) -> None:
        """A worker is recycled once it served max-requests plus its drawn jitter."""
        pool = self.makePool(target=1, ttl=None, maxRequests=100, maxRequestsJitter=10)
        seen = self.observe(pool)
        [process] = self.startReady(pool)
        self.assertEqual(seen[0]["maxRequests"], 105)
        process.send(wire.Event.STATUS, served=104, inFlight=1)
        self.assertEqual(process.commands(), [])
        process.send(wire.Event.STATUS, served=105, inFlight=0)
        self.assertEqual(process.commands(), ["drain"])
        self.assertEqual(pool.workers[1].stopReason, StopReason.MAX_REQUESTS)

    def test_jitterSpreadsLimits(self) -> None:
        """Jitter is drawn per worker, uniformly over 0..J."""
        draws = iter([0.0, 0.5, 0.999])
        pool = self.makePool(
            target=3,
            ttl=None,
            maxRequests=100,
            maxRequestsJitter=10,
            random=lambda: next(draws),
        )
        seen = self.observe(pool)
        pool.startService()
        born = [e for e in seen if e.get("event") == WorkerEvent.BORN]
        self.assertEqual([e["maxRequests"] for e in born], [100, 105, 110])

    def test_memoryTriggerNeedsTwoSamplesInARow(self) -> None:
        """A worker over max-rss on two consecutive samples is recycled; one spike is forgiven."""
        memory: dict[int | None, int] = {}
        pool = self.makePool(target=1, ttl=None, maxRss=100, rssInterval=5, memory=memory)
        [process] = self.startReady(pool)
        memory[process.pid] = 150
        self.reactor.advance(5)
        memory[process.pid] = 50
        self.reactor.advance(5)
        memory[process.pid] = 150
        self.reactor.advance(5)
        self.assertEqual(process.commands(), [])
        self.reactor.advance(5)
        self.assertEqual(process.commands(), ["drain"])
        self.assertEqual(pool.workers[1].stopReason, StopReason.MAX_RSS)

    def test_memoryIsSampledPerWorker(self) -> None:
        """Each worker's memory is its own: only the big one is recycled."""
        memory: dict[int | None, int] = {}
        pool = self.makePool(target=2, ttl=None, maxRss=100, rssInterval=5, memory=memory)
        small, big = self.startReady(pool)
        memory[small.pid] = 50
        memory[big.pid] = 150
        self.reactor.advance(5)
        self.reactor.advance(5)
        self.assertEqual(small.commands(), [])
        self.assertEqual(big.commands(), ["drain"])

    def test_hungWorkerIsKilledAndReplaced(self) -> None:
        """A ready worker silent for the heartbeat timeout is killed and replaced at once."""
        pool = self.makePool(target=1, ttl=None, heartbeatTimeout=5)
        [process] = self.startReady(pool)
        self.reactor.advance(4)
        process.send(wire.Event.STATUS, served=1, inFlight=0)
        self.reactor.advance(4.75)
        self.assertEqual(process.signals, [])
        self.reactor.advance(0.25)
        self.assertEqual(process.signals, ["USR2"], "its stacks first")
        self.assertEqual(len(self.reactor.alive()), 1, "replaced at once, no backoff")
        self.reactor.advance(STACK_DUMP_WAIT)
        self.assertEqual(process.signals, ["USR2", "KILL"])
        self.assertEqual(pool.stats().recycles, {"timeout": 1})
        self.assertEqual(pool.stats().killed, 1)
        self.assertEqual(pool.stats().crashStreak, 0)

    def test_slowBootIsNotAHang(self) -> None:
        """A starting worker is judged by the boot timeout, not the hang timeout."""
        pool = self.makePool(target=1, ttl=None, heartbeatTimeout=5, bootTimeout=60)
        pool.startService()
        self.reactor.advance(59)
        [process] = self.reactor.alive()
        self.assertEqual(process.signals, [])
        process.send(wire.Event.READY)
        self.reactor.advance(4)
        self.assertEqual(process.signals, [])

    def test_bootTimeoutKillsAndBacksOff(self) -> None:
        """A worker not ready by the boot timeout is killed and counts as a failed start."""
        pool = self.makePool(target=1, bootTimeout=60)
        pool.startService()
        self.reactor.advance(60)
        self.assertEqual(self.reactor.processes[0].signals, ["KILL"])
        stats = pool.stats()
        self.assertEqual(stats.crashStreak, 1)
        self.assertEqual(stats.nextRespawnIn, 0.75)
        self.assertEqual(stats.recycles, {"boot-timeout": 1})
        self.assertEqual(self.reactor.alive(), [])


class CrashTests(PoolTestCase):
    """Workers that die on their own, before or after they were ready."""

    def test_earlyDeathCancelsTheTtl(self) -> None:
        """A worker that dies on its own has its TTL cancelled, and is replaced at once."""
        pool = self.makePool(target=1)
        [process] = self.startReady(pool)
        process.exit(signal=11)
        self.assertEqual(len(self.reactor.processes), 2)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(3)
        self.assertEqual(process.commands(), [])
        self.assertEqual(pool.stats().recycles, {"crash": 1})

    def test_crashBeforeReadyBacksOff(self) -> None:
        """
        Workers dying before ready are respawned after growing delays (per retry,
        however many workers of a batch failed), one probe at a time.
        """
        pool = self.makePool(target=2)
        pool.startService()
        with capturedLogs() as events:
            self.reactor.processes[0].send(wire.Event.FAILED, reason="cannot import 'x'")
            self.reactor.processes[0].exit(3)
            self.reactor.processes[1].exit(3)
        errors = [e for e in events if e["log_level"] is LogLevel.error]
        self.assertEqual(len(errors), 1, "the reason is logged once per streak")
        self.assertIn("exit code 3: cannot import 'x'", errors[0]["why"])
        self.assertEqual(self.reactor.alive(), [])
        # 0.5 s doubling per retry, plus jitter (0.25 s with random() == 0.5)
        self.reactor.advance(0.5)
        self.assertEqual(self.reactor.alive(), [])
        self.reactor.advance(0.25)
        self.assertEqual(len(self.reactor.alive()), 1, "a single probe worker")
        self.reactor.alive()[0].exit(3)
        self.reactor.advance(1)
        self.assertEqual(self.reactor.alive(), [], "the second retry waits 1 s + jitter")
        self.reactor.advance(0.25)
        self.assertEqual(len(self.reactor.alive()), 1)
        self.assertEqual(pool.stats().crashStreak, 3)
        self.assertEqual(pool.stats().recycles, {"crash": 3})

    def test_recoveryResetsTheBackoff(self) -> None:
        """Once a worker becomes ready again, the pool fills up at once and the streak resets."""
        pool = self.makePool(target=3)
        pool.startService()
        self.reactor.processes[0].exit(3)
        self.reactor.advance(1)
        probe = self.reactor.alive()[-1]
        with capturedLogs() as events:
            probe.send(wire.Event.READY)
        self.assertEqual(pool.stats().crashStreak, 0)
        self.assertIsNone(pool.stats().nextRespawnIn)
        self.assertEqual(len(pool.workers), 3)
        self.assertIn("recovered after 1 failed start(s)", [formatEvent(e) for e in events][1])

    def test_recoveryFillsThePoolAtOnce(self) -> None:
        """
        A worker that becomes ready while a retry is pending ends the streak,
        and the pool fills up at once (docs/architecture.md), not at the retry.
        """
        pool = self.makePool(target=3)
        pool.startService()
        self.reactor.processes[0].exit(3)
        self.reactor.processes[1].send(wire.Event.READY)
        self.assertEqual(pool.stats().crashStreak, 0)
        self.assertIsNone(pool.stats().nextRespawnIn)
        self.assertEqual(len(pool.workers), 3)

    def test_backoffStartsOverAfterRecovery(self) -> None:
        """A new streak after a recovery waits the first delay again, not a longer one."""
        pool = self.makePool(target=1)
        pool.startService()
        for code in (3, 4, 5):  # three ways, or the pool would give up
            self.reactor.alive()[0].exit(code)
            self.reactor.advance(100)
        self.makeReady()
        self.reactor.alive()[0].exit(3)
        self.reactor.alive()[0].exit(3)
        self.assertEqual(pool.stats().nextRespawnIn, 0.75)

    def test_anAppThatNeverStartsMakesThePoolGiveUp(self) -> None:
        """
        No worker ever ready, and the first attempts all fail the same way: the
        traceback is logged once, the pool gives up (L{WorkerPool.gaveUp}) and
        spawns no more, whatever the other workers of the batch do.
        """
        pool = self.makePool(target=4)
        pool.startService()
        gaveUp: list[str] = []
        pool.gaveUp.addCallback(gaveUp.append)
        with capturedLogs() as events:
            for _ in range(GIVE_UP_AFTER):  # the first batch, then each retry's probe
                self.assertEqual(gaveUp, [])
                for process in self.reactor.alive():
                    process.send(wire.Event.FAILED, reason="cannot import 'x'", traceback="TB 7")
                    process.exit(3)
                self.reactor.advance(100)
        self.assertEqual(self.reactor.alive(), [])
        self.assertEqual(gaveUp, ["exit code 3: cannot import 'x'"])
        self.assertEqual(len(self.reactor.processes), 4 + GIVE_UP_AFTER - 1, "no more retries")
        levels = Counter(e["log_level"] for e in events)
        self.assertEqual((levels[LogLevel.error], levels[LogLevel.critical]), (1, 1))
        [error] = [e for e in events if e["log_level"] is LogLevel.error]
        self.assertIn("TB 7", formatEvent(error))

    def test_differentFailuresKeepRetrying(self) -> None:
        """Failures that differ (a flaky start) are retried: the pool gives up only on a pattern."""
        pool = self.makePool(target=1)
        pool.startService()
        for attempt in range(2 * GIVE_UP_AFTER):
            self.reactor.alive()[0].exit(3 + attempt % 2)
            self.reactor.advance(100)
        self.assertFalse(pool.gaveUp.called)
        self.assertEqual(len(self.reactor.alive()), 1)

    def test_aPoolThatWasReadyNeverGivesUp(self) -> None:
        """Once a worker was ready, failures (a broken deploy) are retried forever."""
        pool = self.makePool(target=2, ttl=None)
        self.startReady(pool)
        pool.scale(3)
        for _ in range(2 * GIVE_UP_AFTER):
            [starting] = [p for p in self.reactor.alive() if p.protocol.state.value == "starting"]
            starting.exit(3)
            self.reactor.advance(100)
        self.assertFalse(pool.gaveUp.called)
        self.assertEqual(pool.stats().crashStreak, 2 * GIVE_UP_AFTER)

    def test_theStreakEndsWhenThePoolIsFull(self) -> None:
        """A scale-down that leaves a full, healthy pool ends the streak and its pending retry."""
        pool = self.makePool(target=2, ttl=None)
        self.startReady(pool)
        pool.scale(3)
        self.reactor.alive()[-1].exit(3)
        self.assertEqual(pool.stats().crashStreak, 1)
        pool.scale(2)
        self.assertEqual(pool.stats().crashStreak, 0)
        self.assertIsNone(pool.stats().nextRespawnIn)
        self.reactor.advance(100)
        self.assertEqual(len(self.reactor.processes), 3, "no retry")

    def test_aLargeSpawnStartsInBatches(self) -> None:
        """C{spawn 100} starts C{MAX_STARTING} at a time; more as those become ready."""
        pool = self.makePool(target=1, ttl=None)
        self.startReady(pool)
        pool.spawn(100)
        self.assertEqual(len(self.reactor.alive()), 1 + MAX_STARTING)
        self.makeReady()
        self.assertEqual(len(self.reactor.alive()), 1 + 2 * MAX_STARTING)
        while len(self.reactor.alive()) < 101:
            self.makeReady()
        self.assertEqual(len(self.makeReady()), 101)

    def test_spawnFailureIsRetried(self) -> None:
        """An OSError from spawnProcess is logged and retried with backoff."""
        pool = self.makePool(target=1)
        self.reactor.spawnError = OSError("EAGAIN")
        with capturedLogs() as events:
            pool.startService()
        self.assertEqual(pool.workers, {})
        self.assertIn("cannot spawn worker 1: EAGAIN", events[0]["why"])
        self.reactor.spawnError = None
        self.reactor.advance(1)
        self.assertEqual(len(pool.workers), 1)
        self.assertEqual(pool.stats().spawnFailures, 1)
        self.assertEqual(pool.stats().born, 1)

    def test_startingWorkerQueuedForReloadThatCrashesBacksOff(self) -> None:
        """A worker queued for reload that dies on its own before ready is a crash, not a reload."""
        pool = self.makePool(target=1)
        pool.startService()
        pool.reload()
        self.reactor.processes[0].exit(3)
        self.assertEqual(pool.stats().crashStreak, 1)
        self.assertEqual(pool.stats().recycles, {"crash": 1})

    def test_exitedWorkerWithOpenPipesIsNoLongerCapacity(self) -> None:
        """
        A worker whose process exited while a subprocess holds its pipes is not
        signalled any more, stops counting, and its pipes are closed a moment later.
        """
        pool = self.makePool(target=1, ttl=None, heartbeatTimeout=5)
        [process] = self.startReady(pool)
        process.protocol.processExited(Failure(ProcessDone(0)))
        self.reactor.advance(5)
        self.assertEqual(process.signals, [])
        self.assertIs(pool.workers[1].state, WorkerState.GONE)
        self.assertFalse(pool.workers[1].state.counted)
        self.assertEqual(pool.stats().ready, 0)
        self.assertLessEqual({1, 2, wire.EVENT_FD}, set(process.closedFDs))

    def test_exitedWorkerWithOpenPipesIsReplacedAtOnce(self) -> None:
        """
        A worker whose process exited stops counting at once, so its
        replacement starts before it is reaped (docs/architecture.md).
        """
        pool = self.makePool(target=1, ttl=None)
        [process] = self.startReady(pool)
        process.protocol.processExited(Failure(ProcessDone(0)))
        self.assertEqual(len(self.reactor.processes), 2)

    def test_killedWorkerIsNotCapacity(self) -> None:
        """
        A worker sent SIGKILL but not yet reaped no longer counts: it shows as
        draining, and its replacement is already starting.
        """
        pool = self.makePool(target=2)
        first, _ = self.startReady(pool)

        def reapedLater(signalID: str) -> None:
            first.signals.append(signalID)

        first.signalProcess = reapedLater
        pool.kill(1, force=True)
        self.assertEqual(first.signals, ["KILL"])
        self.assertIs(pool.workers[1].state, WorkerState.KILLED)
        stats = pool.stats()
        self.assertEqual((stats.starting, stats.ready, stats.draining), (1, 1, 1))
        self.assertEqual(len(self.reactor.alive()), 3, "its replacement is already starting")


class StoppingTests(PoolTestCase):
    """Draining, the grace deadline, and stopping the pool."""

    def test_graceExpiryKillsTheWorker(self) -> None:
        """A draining worker still alive after C{grace} is killed with SIGKILL."""
        pool = self.makePool(target=1, grace=10)
        [process] = self.startReady(pool)
        self.reactor.advance(3)
        self.reactor.advance(9.75)
        self.assertEqual(process.signals, [])
        self.reactor.advance(0.25)
        self.assertEqual(process.signals, ["KILL"])
        self.assertTrue(process.ended)
        self.assertEqual(pool.stats().recycles, {"ttl": 1})
        self.assertEqual(pool.stats().killed, 1)

    def test_exitCancelsTheKill(self) -> None:
        """A worker that exits before its grace runs out is never signalled afterwards."""
        pool = self.makePool(target=1, grace=10)
        [process] = self.startReady(pool)
        self.reactor.advance(3)
        process.exit(0)
        self.assertEqual(
            self.reactor.getDelayedCalls(), [], "the replacement is not ready: no timer at all"
        )
        self.reactor.advance(100)
        self.assertEqual(process.signals, [])
        self.assertEqual(pool.stats().killed, 0)

    def test_stopDrainsAllAndWaitsForExit(self) -> None:
        """Stopping drains every worker, spawns nothing more, and fires once all exited."""
        pool = self.makePool(target=2)
        processes = self.startReady(pool)
        stopped = pool.stopService()
        self.assertEqual([p.commands() for p in processes], [["drain"], ["drain"]])
        self.assertEqual({w.stopReason for w in pool.workers.values()}, {StopReason.STOP})
        processes[0].exit(0)
        self.assertNoResult(stopped)
        processes[1].exit(0)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertEqual(len(self.reactor.processes), 2)
        self.assertEqual(pool.stats().recycles, {}, "a stop is not a recycle")

    def test_stopKillsWorkersThatDoNotDrain(self) -> None:
        """A worker that ignores the drain is killed after C{grace}, then the stop completes."""
        pool = self.makePool(target=1, grace=5)
        [process] = self.startReady(pool)
        stopped = pool.stopService()
        self.reactor.advance(4.75)
        self.assertNoResult(stopped)
        self.reactor.advance(0.25)
        self.assertEqual(process.signals, ["KILL"])
        self.successResultOf(stopped)

    def test_stopCancelsPendingRespawn(self) -> None:
        """A respawn waiting out its backoff does not happen once the pool stops."""
        pool = self.makePool(target=1)
        pool.startService()
        self.reactor.processes[0].exit(3)
        self.successResultOf(pool.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(100)
        self.assertEqual(len(self.reactor.processes), 1)

    def test_workerStartingDuringStopIsDrained(self) -> None:
        """A worker still starting when the pool stops gets the drain command too."""
        pool = self.makePool(target=1)
        pool.startService()
        pool.stopService()
        self.assertEqual(self.reactor.processes[0].commands(), ["drain"])

    def test_stopDropsTheQueue(self) -> None:
        """Workers queued for recycling are drained for the stop, and nothing respawns."""
        pool = self.makePool(target=2, overlap=True, ttl=TTLRange(2, 2))
        self.startReady(pool)
        self.reactor.advance(2)
        stopped = pool.stopService()
        for process in self.reactor.alive():
            self.assertEqual(process.commands(), ["drain"])
            process.exit(0)
        self.successResultOf(stopped)
        self.assertEqual(len(self.reactor.processes), 3)


class OperatorTests(PoolTestCase):
    """What operators ask through the admin port and signals."""

    def test_recycleDrainsAfterItsReplacementIsReady(self) -> None:
        """C{recycle ID} starts a replacement and drains the worker once it is ready."""
        pool = self.makePool(target=2)
        first, _ = self.startReady(pool)
        pool.recycle(1)
        self.assertEqual(first.commands(), [])
        self.assertIs(pool.workers[1].state, WorkerState.RETIRING)
        self.makeReady()
        self.assertEqual(first.commands(), ["drain"])
        self.assertEqual(pool.workers[1].stopReason, StopReason.RECYCLE)

    def test_recycleOfAStartingWorkerWaitsUntilItIsReady(self) -> None:
        """A starting worker asked to recycle is queued, and replaced once it is ready."""
        pool = self.makePool(target=1)
        pool.startService()
        pool.recycle(1)
        self.assertEqual(pool.pendingReason(pool.workers[1]), StopReason.RECYCLE)
        self.assertEqual(len(self.reactor.processes), 1)
        self.makeReady()
        self.assertIs(pool.workers[1].state, WorkerState.RETIRING)
        self.assertEqual(len(self.reactor.processes), 2)

    def test_recycleRefusesAStoppingWorker(self) -> None:
        """A worker already draining (or retiring) cannot be recycled again."""
        pool = self.makePool(target=2)
        self.startReady(pool)
        self.reactor.advance(3)
        with self.assertRaises(PoolError) as caught:
            pool.recycle(1)
        self.assertEqual(str(caught.exception), "worker 1 is already draining (--now kills it)")
        pool.recycle(2)
        with self.assertRaises(PoolError) as caught:
            pool.recycle(2)
        self.assertEqual(str(caught.exception), "worker 2 is already retiring (--now kills it)")

    def test_killRefusesToLowerCapacity(self) -> None:
        """C{kill ID} (SIGKILL) is refused if it leaves fewer than target ready, unless forced."""
        pool = self.makePool(target=2)
        first, _ = self.startReady(pool)
        with self.assertRaises(PoolError) as caught:
            pool.kill(1)
        self.assertIn("--force", str(caught.exception))
        self.assertEqual(first.signals, [])
        pool.kill(1, force=True)
        self.assertEqual(first.signals, ["KILL"])
        self.assertEqual(pool.stats().recycles, {"kill": 1})
        self.assertEqual(len(self.reactor.alive()), 2, "replaced at once")

    def test_killNeedsNoForceWhenCapacityStays(self) -> None:
        """Killing a worker that is not needed for the target (draining, extra) needs no force."""
        pool = self.makePool(target=2)
        processes = self.startReady(pool)
        self.reactor.advance(3)
        pool.kill(1)
        self.assertEqual(processes[0].signals, ["KILL"])
        self.assertEqual(pool.stats().recycles, {"ttl": 1})
        pool.kill(3)
        self.assertEqual(self.reactor.processes[2].signals, ["KILL"])

    def test_killUnknownOrExitedWorker(self) -> None:
        """Recycling or killing an id that never existed or already exited is a clear error."""
        pool = self.makePool(target=1)
        [process] = self.startReady(pool)
        process.exit(1)
        for ask in (pool.recycle, pool.kill):
            with self.assertRaises(PoolError) as caught:
                ask(1)
            self.assertEqual(str(caught.exception), "worker 1 has exited")
            with self.assertRaises(PoolError) as caught:
                ask(99)
            self.assertEqual(str(caught.exception), "worker 99 does not exist")

    def test_scaleGrowsAtOnceAndShrinksOldestFirst(self) -> None:
        """C{scale} spawns at once when growing and drains the oldest workers when shrinking."""
        pool = self.makePool(target=2)
        self.startReady(pool)
        pool.scale(4)
        self.assertEqual(len(self.reactor.alive()), 4)
        self.makeReady()
        pool.scale(1)
        self.assertEqual(
            [p.commands() for p in self.reactor.processes], [["drain"], ["drain"], ["drain"], []]
        )
        self.assertEqual(pool.workers[1].stopReason, StopReason.SCALE)
        for size in (0, MAX_WORKERS + 1):
            with self.assertRaises(PoolError) as caught:
                pool.scale(size)
            self.assertIn("between 1 and", str(caught.exception))
        self.assertEqual(pool.target, 1)

    def test_scaleIsLogged(self) -> None:
        """A change of target is logged."""
        pool = self.makePool(target=2)
        with capturedLogs() as events:
            pool.scale(3)
        self.assertEqual([formatEvent(e) for e in events], ["target: 2 -> 3 workers"])

    def test_scaleDownDrainsStartingWorkersFirst(self) -> None:
        """Shrinking drains workers still starting (newest first) before ready ones."""
        pool = self.makePool(target=2)
        self.startReady(pool)
        pool.scale(4)
        pool.scale(3)
        self.assertEqual([p.commands() for p in self.reactor.processes], [[], [], [], ["drain"]])

    def test_scaleResumesTheRecycleQueue(self) -> None:
        """Scaling down after a failed replacement drains the worker waiting to be replaced."""
        pool = self.makePool(target=3, overlap=True, ttl=None)
        self.startReady(pool)
        pool.reload()
        self.reactor.processes[3].exit(3)
        pool.scale(2)
        self.reactor.advance(100)
        self.assertEqual(self.reactor.processes[0].commands(), ["drain"])

    def test_spawnAddsWorkers(self) -> None:
        """C{spawn N} raises the target by N."""
        pool = self.makePool(target=2)
        self.startReady(pool)
        pool.spawn(2)
        self.assertEqual(pool.target, 4)
        self.assertEqual(len(self.reactor.alive()), 4)
        self.assertRaises(PoolError, pool.spawn, 0)
        self.assertRaises(PoolError, pool.spawn, MAX_WORKERS)
        self.assertEqual(pool.target, 4)

    def test_reloadReplacesEveryWorkerKeepingCapacity(self) -> None:
        """C{reload} replaces every worker, one at a time, never below target ready."""
        pool = self.makePool(target=3, ttl=None)
        old = self.startReady(pool)
        with capturedLogs() as events:
            pool.reload()
        self.assertEqual(formatEvent(events[0]), "reload: 3 workers to recycle")
        for _ in range(len(old)):
            self.assertGreaterEqual(pool.stats().ready, 3)
            self.makeReady()
            [drained] = [p for p in self.reactor.alive() if p.commands() == ["drain"]]
            drained.exit(0)
            self.assertGreaterEqual(pool.stats().ready, 3)
        self.assertTrue(all(p.ended for p in old))
        self.assertEqual(pool.stats().ready, 3)
        self.assertEqual(pool.stats().recycles, {"reload": 3})
        self.assertEqual(len(self.reactor.processes), 6)


class ReloadPreparationTests(PoolTestCase):
    """With a fork server, C{reload} first starts new code, and recycles only if it did."""

    def makeReloadingPool(self) -> tuple[WorkerPool, list[Deferred[None]]]:
        prepared: list[Deferred[None]] = []

        def prepare() -> Deferred[None]:
            prepared.append(Deferred())
            return prepared[-1]

        config = PoolConfig(target=2, grace=10, overlap=True)
        pool = WorkerPool(self.reactor, COMMAND, config, prepareReload=prepare)
        return pool, prepared

    def test_workersAreRecycledOnceTheNewCodeIsReady(self) -> None:
        """No worker is queued until the preparation (a new fork server) has succeeded."""
        pool, prepared = self.makeReloadingPool()
        self.startReady(pool)
        pool.reload()
        self.assertEqual([pool.pendingReason(w) for w in pool.workers.values()], [None, None])
        prepared[0].callback(None)
        self.assertEqual(pool.pendingReason(pool.workers[2]), StopReason.RELOAD)
        self.assertIs(pool.workers[1].state, WorkerState.RETIRING)

    def test_aFailedPreparationRecyclesNothing(self) -> None:
        """If the new code cannot start, the workers serve on and the reason is logged."""
        pool, prepared = self.makeReloadingPool()
        self.startReady(pool)
        pool.reload()
        with capturedLogs() as events:
            prepared[0].errback(RuntimeError("SyntaxError in app.py"))
        self.assertEqual(len(self.reactor.processes), 2)
        self.assertTrue(all(w.state is WorkerState.READY for w in pool.workers.values()))
        self.assertIn("reload aborted: SyntaxError in app.py", [formatEvent(e) for e in events])


class StatsTests(PoolTestCase):
    """The pool's counters and its snapshot."""

    def test_statsStayMonotonic(self) -> None:
        """Requests served by exited workers stay counted in the pool totals."""
        pool = self.makePool(target=1, ttl=None)
        [process] = self.startReady(pool)
        process.send(wire.Event.STATUS, served=10, inFlight=2)
        self.assertEqual(pool.stats().served, 10)
        self.assertEqual(pool.stats().inFlight, 2)
        process.exit(0)
        self.makeReady()
        self.reactor.alive()[0].send(wire.Event.STATUS, served=5, inFlight=0)
        stats = pool.stats()
        self.assertEqual((stats.served, stats.born, stats.exited, stats.inFlight), (15, 2, 1, 0))
        self.assertEqual((stats.starting, stats.ready, stats.draining), (0, 1, 0))
        self.assertEqual(stats.live, 1)

    def test_snapshot(self) -> None:
        """C{stats} is a frozen snapshot of the pool at that moment."""
        pool = self.makePool(target=2)
        self.reactor.advance(7)
        pool.startService()
        self.reactor.advance(2)
        self.reactor.processes[0].send(wire.Event.READY)
        stats = pool.stats()
        self.assertIsInstance(stats, PoolStats)
        self.assertEqual(
            stats,
            PoolStats(
                uptime=2,
                target=2,
                starting=1,
                ready=1,
                draining=0,
                born=2,
                exited=0,
                killed=0,
                served=0,
                inFlight=0,
                spawnFailures=0,
                recycles={},
                crashStreak=0,
                nextRespawnIn=None,
            ),
        )
        self.reactor.processes[1].send(wire.Event.READY)
        self.assertEqual(stats.ready, 1, "a snapshot does not change")

    def test_statusUpdatesCounters(self) -> None:
        """Status events update served and in-flight counts; malformed lines are ignored."""
        pool = self.makePool(target=1)
        [process] = self.startReady(pool)
        process.send(wire.Event.STATUS, served=12, inFlight=3)
        process.output(b"not json\n", fd=wire.EVENT_FD)
        process.send(wire.Event.STATUS, served="many")
        worker = pool.workers[1]
        self.assertEqual((worker.served, worker.inFlight), (12, 3))


class EventTests(PoolTestCase):
    """The pool's event channel: observers, the global log, the worker's output."""

    def test_observersSeeWorkerEvents(self) -> None:
        """Observers of C{pool.events} receive born/ready/draining/exited events until removed."""
        pool = self.makePool(target=1)
        seen: list[dict[str, Any]] = []
        pool.events.addObserver(seen.append)
        [process] = self.startReady(pool)
        self.reactor.advance(3)
        pool.events.removeObserver(seen.append)
        process.exit(0)
        self.assertEqual(kinds(seen), ["born", "ready", "draining", "born"])

    def test_observerMayReadStatsOnEveryEvent(self) -> None:
        """An observer can call stats() on every event, the exited one included."""
        pool = self.makePool(target=1)
        seen: list[tuple[str, PoolStats]] = []

        def observer(event: dict[str, Any]) -> None:
            if "event" in event:
                seen.append((event["event"], pool.stats()))

        pool.events.addObserver(observer)
        [process] = self.startReady(pool)
        process.exit(1)
        self.assertEqual(
            Counter(kind for kind, _ in seen), {"born": 2, "ready": 1, "exited": 1, "respawn": 1}
        )
        self.assertEqual(dict(seen)["exited"].ready, 0)
        self.assertEqual(dict(seen)["respawn"].exited, 1)

    def test_failingObserverIsRemoved(self) -> None:
        """An observer that raises is logged once and dropped; the pool and the others go on."""
        pool = self.makePool(target=1)
        seen: list[dict[str, Any]] = []

        def broken(event: dict[str, Any]) -> None:
            raise RuntimeError("boom")

        pool.events.addObserver(broken)
        pool.events.addObserver(seen.append)
        [process] = self.startReady(pool)
        process.exit(0)
        self.assertEqual(Counter(kinds(seen)), {"born": 2, "ready": 1, "exited": 1, "respawn": 1})
        self.assertEqual(len(pool.workers), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_eachLifecycleEventOnceToObserversAndTheGlobalLog(self) -> None:
        """
        Every lifecycle event, of every kind, reaches an observer of
        C{pool.events} exactly once, and the global log exactly once.
        """
        pool = self.makePool(target=1, ttl=None, overlap=True, grace=5)
        seen = self.observe(pool)
        with capturedLogs() as logged:
            self.startReady(pool)
            pool.recycle(1)
            self.makeReady()
            self.reactor.advance(5)
        expected = [
            (WorkerEvent.BORN, 1),
            (WorkerEvent.READY, 1),
            (WorkerEvent.RETIRING, 1),
            (WorkerEvent.BORN, 2),
            (WorkerEvent.READY, 2),
            (WorkerEvent.DRAINING, 1),
            (WorkerEvent.KILLED, 1),
            (WorkerEvent.EXITED, 1),
            (WorkerEvent.RESPAWN, 1),
        ]
        self.assertEqual({kind for kind, _ in expected}, set(WorkerEvent))
        self.assertEqual([(e["event"], e["workerId"]) for e in seen if "event" in e], expected)
        self.assertEqual([(e["event"], e["workerId"]) for e in logged if "event" in e], expected)
        self.assertEqual(
            [id(e) for e in seen if "event" in e], [id(e) for e in logged if "event" in e]
        )
        self.assertEqual(len({id(e) for e in seen}), len(seen))

    def test_outputIsRelayedWithTheWorkerId(self) -> None:
        """Worker stdout/stderr lines reach the master's log, tagged with the worker id."""
        pool = self.makePool(target=1)
        pool.startService()
        with capturedLogs() as events:
            self.reactor.processes[0].output(b"hello\npartial", fd=2)
            self.reactor.processes[0].exit(1)
        relayed = [(e["workerId"], e["line"], e["stream"]) for e in events if "stream" in e]
        self.assertEqual(relayed, [(1, "hello", "stderr"), (1, "partial", "stderr")])

    def test_lifecycleIsLogged(self) -> None:
        """Born, ready, draining, exited and respawn are logged as structured events."""
        pool = self.makePool(target=1)
        with capturedLogs() as events:
            [process] = self.startReady(pool)
            self.reactor.advance(3)
            process.exit(0)
        self.assertEqual(
            kinds(events, workerId=1), ["born", "ready", "draining", "exited", "respawn"]
        )
        self.assertEqual(events[0]["pid"], 1000)
        self.assertEqual(
            [formatEvent(e) for e in events if e.get("workerId") == 1][-1],
            "respawning: worker 1 exited (ttl)",
        )
