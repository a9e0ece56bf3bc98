# -*- test-case-name: tests.master.test_pool -*-
"""The pool: keeps the target number of workers alive and decides when to recycle them.

L{WorkerPool} decides when to act (spawn, queue a recycle, start a
replacement, drain, back off) with an injected reactor, so tests drive it with
a fake process reactor and a L{twisted.internet.task.Clock}. Why a worker
should stop is decided by its triggers (L{recycler.master.triggers}), how it
moves through its life by its handle (L{recycler.master.handle}).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler.master.backoff import CrashBackoff
from recycler.master.config import MAX_STARTING, MAX_WORKERS, PoolConfig, PoolError
from recycler.master.events import CRASH, RECYCLES, StopReason, WorkerEvent, eventChannel
from recycler.master.handle import WorkerHandle
from recycler.master.lifecycle import WorkerState
from recycler.master.memory import residentBytes
from recycler.master.policy import Random, TTLRange
from recycler.master.spawn import WorkerCommand
from recycler.master.stats import PoolStats, PoolTotals
from recycler.master.triggers import StartupEstimate, triggersFor

ALWAYS_OVERLAPPED = (StopReason.RECYCLE, StopReason.RELOAD)
"""Recycle reasons whose replacement is always started before the old worker drains."""


class WorkerPool(Service):
    """
    Keeps C{target} workers serving and recycles them without lowering capacity.

    Planned recycles go through a queue: at most C{maxDraining} wait for their
    replacement at once. With C{overlap} the replacement starts first (the old
    worker is I{retiring}) and the old worker drains once C{target} others are
    ready. Workers that die before ready start a crash streak: respawns back
    off, one probe at a time. L{stopService} drains all, fires once all exited.

    @ivar workers: Live workers (not yet exited) by id.
    @ivar events: The pool's event channel: every event of the pool and its
        workers, observed by the global log and by the admin's C{watch}.
    @ivar gaveUp: Fires with the reason if no worker could ever start (L{CrashBackoff}).
    """

    def __init__(
        self,
        reactor: IReactorProcess,
        command: WorkerCommand,
        config: PoolConfig,
        random: Random = _random.random,
        memoryOf: Callable[[int | None], int | None] = residentBytes,
        prepareReload: Callable[[], Deferred[None]] | None = None,
    ) -> None:
        self._reactor = reactor
        self._clock = IReactorTime(reactor)
        self._command = command
        self._config = config
        self._target = config.target
        self._triggers = config.triggers
        self._random = random
        self._memoryOf = memoryOf
        self._prepareReload = prepareReload
        self._startup = StartupEstimate(enabled=config.overlap)
        self.events = eventChannel()
        self.log = Logger(observer=self.events)
        self._backoff = CrashBackoff(self._clock, random, self._schedule, self.log)
        self.gaveUp = self._backoff.gaveUp
        self.workers: dict[int, WorkerHandle] = {}
        self._lastId = 0
        self._queue: dict[WorkerHandle, StopReason] = {}
        self._stopped: Deferred[None] | None = None
        self._startedAt = self._clock.seconds()
        self._totals = PoolTotals()

    def startService(self) -> None:
        super().startService()
        self._startedAt = self._clock.seconds()
        self._reconcile()

    def stopService(self) -> Deferred[None]:
        """Drain every worker; the result fires when the last one has exited."""
        super().stopService()
        self._backoff.cancel()
        self._queue.clear()
        for worker in self._byAge():
            worker.drain(StopReason.STOP)
        if not self.workers:
            return succeed(None)
        self._stopped = Deferred()
        return self._stopped

    # What operators ask (admin port, signals)

    @property
    def target(self) -> int:
        """How many workers the pool keeps."""
        return self._target

    @property
    def ttl(self) -> TTLRange | None:
        """The range lifetimes of workers spawned from now on are drawn from."""
        return self._triggers.ttl

    def setTTL(self, ttl: TTLRange | None) -> None:
        """Draw the lifetimes of workers spawned from now on from C{ttl} (L{None}: forever)."""
        self.log.info("ttl: {old} -> {new}", old=self.ttl or "off", new=ttl or "off")
        self._triggers = attrs.evolve(self._triggers, ttl=ttl)

    def scale(self, target: int) -> None:
        """Keep C{target} workers: spawn at once, or drain starting then oldest first."""
        if not 1 <= target <= MAX_WORKERS:
            raise PoolError(f"the pool size must be between 1 and {MAX_WORKERS}, not {target}")
        old, self._target = self._target, target
        self.log.info("target: {old} -> {new} workers", old=old, new=target)
        self._schedule()

    def spawn(self, count: int = 1) -> None:
        """Add C{count} workers now."""
        if count < 1:
            raise PoolError(f"cannot spawn {count} workers")
        self.scale(self._target + count)

    def recycle(self, workerId: int) -> None:
        """Replace one worker gracefully: its replacement starts first, then it drains."""
        worker = self._worker(workerId)
        if not worker.state.counted:
            raise PoolError(f"worker {workerId} is already {worker.state.value} (--now kills it)")
        self._queue.pop(worker, None)
        if worker.state is WorkerState.STARTING:
            self._queue[worker] = StopReason.RECYCLE  # recycled once it is ready
        else:
            self._startRecycling(worker, StopReason.RECYCLE)
        self._schedule()

    def kill(self, workerId: int, force: bool = False) -> None:
        """SIGKILL one worker now; unless C{force}, not if it leaves fewer than C{target} ready."""
        worker = self._worker(workerId)
        if not force and worker.state is WorkerState.READY and self._readyCount() <= self._target:
            raise PoolError(
                f"killing worker {workerId} now would leave fewer than {self._target} "
                f"ready workers; use --force"
            )
        worker.kill(StopReason.KILL)
        self._schedule()

    def reload(self) -> None:
        """Rolling restart: new code first (a new fork server), then every worker is recycled."""
        prepared = succeed(None) if self._prepareReload is None else self._prepareReload()
        prepared.addCallbacks(lambda _: self._recycleAll(), self._reloadAborted)

    def _reloadAborted(self, failure: Failure) -> None:
        self.log.error("reload aborted: {why}", why=failure.getErrorMessage())

    def _recycleAll(self) -> None:
        for worker in self._byAge():
            if worker.state.counted:
                self._queue.pop(worker, None)
                self._queue[worker] = StopReason.RELOAD
        self.log.info("reload: {count} workers to recycle", count=len(self._queue))
        self._schedule()

    def pendingReason(self, worker: WorkerHandle) -> StopReason | None:
        """Why C{worker} is stopping, or is queued to be recycled; L{None} if neither."""
        return worker.stopReason or self._queue.get(worker)

    def stats(self) -> PoolStats:
        """A snapshot of the pool; counters stay monotonic across recycling."""
        return self._totals.snapshot(
            self.workers.values(),
            uptime=self._clock.seconds() - self._startedAt,
            target=self._target,
            crashStreak=self._backoff.streak,
            nextRespawnIn=self._backoff.nextRetryIn(),
            spawn=self._command.spawnMode,
            forkServer=self._command.forkerStatus(),
        )

    # What workers tell (WorkerHandle's PoolCallbacks)

    def workerReady(self, worker: WorkerHandle) -> None:
        self._startup.observe(self._totals.ready(worker.startup))
        self._backoff.recovered(worker.workerId)
        self._schedule()

    def workerWantsRecycling(self, worker: WorkerHandle, reason: StopReason) -> None:
        """A trigger fired (TTL, max requests, memory): queue the worker for recycling."""
        if worker.state is not WorkerState.READY or worker in self._queue:
            return
        self._queue[worker] = reason
        self._schedule()

    def workerExited(self, worker: WorkerHandle) -> None:
        """Its process is gone (pipes may linger): replace a worker that was ready at once."""
        if worker.readyAt is not None:
            self._schedule()

    def workerEnded(self, worker: WorkerHandle) -> None:
        del self.workers[worker.workerId]
        self._queue.pop(worker, None)
        reason = worker.stopReason if worker.wasStopped else None
        counted = None if reason is StopReason.STOP else str(reason or CRASH)
        self._totals.ended(worker.served, worker.killed, counted)
        if not self.running:
            if not self.workers and self._stopped is not None:
                self._stopped, stopped = None, self._stopped
                stopped.callback(None)
            return
        why, workerId = reason or worker.exitDescription(), worker.workerId
        if worker.readyAt is None and reason in (None, StopReason.BOOT_TIMEOUT):
            why = f"worker {workerId} exited before it was ready ({why})"
            return self._startFailed(why, str(reason or worker.exitDescription()), worker)
        respawn = "respawning: worker {workerId} exited ({reason})"
        self.log.info(respawn, workerId=workerId, reason=why, event=WorkerEvent.RESPAWN)
        self._schedule()

    # Deciding when to act

    def _worker(self, workerId: int) -> WorkerHandle:
        worker = self.workers.get(workerId)
        if worker is None:
            what = "has exited" if 0 < workerId <= self._lastId else "does not exist"
            raise PoolError(f"worker {workerId} {what}")
        return worker

    def _byAge(self) -> list[WorkerHandle]:
        return sorted(self.workers.values(), key=lambda w: w.workerId)

    def _counted(self, state: WorkerState | None = None) -> list[WorkerHandle]:
        """Workers that count toward the target (in C{state}, if given), oldest first."""
        return [w for w in self._byAge() if w.state.counted and (state is None or w.state is state)]

    def _readyCount(self) -> int:
        return len(self._counted(WorkerState.READY))

    def _recyclesInProgress(self) -> int:
        """Recycles whose replacement is not ready yet (the old worker's drain holds no slot)."""
        workers = self.workers.values()
        retiring = sum(w.state is WorkerState.RETIRING for w in workers)
        drained = sum(w.state.phase == "draining" and w.stopReason in RECYCLES for w in workers)
        return retiring + min(drained, max(0, self._target - self._readyCount()))

    def _startRecycling(self, worker: WorkerHandle, reason: StopReason) -> None:
        if self._config.overlap or reason in ALWAYS_OVERLAPPED:
            worker.retire(reason)
        else:
            worker.drain(reason)

    def _schedule(self) -> None:
        """Drain what was replaced, start queued recycles while slots are free, rebalance."""
        if not self.running:
            return
        self._drainReplaced()
        for worker, reason in list(self._queue.items()):
            if self._recyclesInProgress() >= self._config.maxDraining:
                break
            if worker.state is WorkerState.STARTING:
                continue  # recycled once it is ready
            del self._queue[worker]
            if worker.state is WorkerState.READY:
                self._startRecycling(worker, reason)
        self._reconcile()
        self._drainReplaced()

    def _drainReplaced(self) -> None:
        """Drain retiring workers, oldest first, while more than C{target} serve (they do too)."""
        serving = sum(w.state.serving for w in self.workers.values())
        for worker in self._byAge():
            if worker.state is WorkerState.RETIRING and serving > self._target:
                worker.drain(worker.stopReason or StopReason.RECYCLE)
                serving -= 1

    def _reconcile(self) -> None:
        """Spawn (in batches) or drain until C{target} count; in a crash streak, one probe."""
        if not self.running:
            return
        counted = self._counted()
        starting = self._counted(WorkerState.STARTING)[::-1]
        ready = self._counted(WorkerState.READY)
        for worker in (starting + ready)[: max(0, len(counted) - self._target)]:
            worker.drain(StopReason.SCALE)
        if self._backoff.streak and len(counted) >= self._target and not starting:
            self._backoff.over(f"the pool has its {self._target} workers")
        if self._backoff.waiting:
            return
        for _ in range(self._target - len(counted)):
            nowStarting = self._counted(WorkerState.STARTING)
            if len(nowStarting) >= MAX_STARTING or (self._backoff.streak and nowStarting):
                return  # more once these are ready (a crash streak: one probe at a time)
            if not self._spawn():
                return

    def _spawn(self) -> bool:
        self._lastId += 1
        triggers = triggersFor(
            self._triggers, self._clock, self._random, self._memoryOf, self._startup
        )
        grace, mode = self._config.grace, self._command.spawnMode
        worker = WorkerHandle(self._lastId, self._clock, self, triggers, grace, self.events, mode)
        try:
            self._command.spawn(self._reactor, worker)
        except OSError as e:
            self._startFailed(f"cannot spawn worker {worker.workerId}: {e}", str(e))
            return False
        self.workers[worker.workerId] = worker
        self._totals.born += 1
        return True

    def _startFailed(self, why: str, cause: str, worker: WorkerHandle | None = None) -> None:
        self._totals.spawnFailures += 1
        self._backoff.failed(why, cause, None if worker is None else worker.failureTraceback)
