"""The pool: keeps the target number of workers alive and recycles them.

L{WorkerPool} makes every decision (when to spawn, whom to drain and when, how
long to back off after a crash) with an injected reactor, so tests drive it with
a fake process reactor and a L{twisted.internet.task.Clock}.
"""

from __future__ import annotations

import random as _random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorProcess, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from recycler import wire
from recycler.completion import Completion
from recycler.master.memory import residentBytes
from recycler.master.policy import Random, TTLRange, crashBackoff
from recycler.master.workerprocess import WorkerLimits, WorkerProcess, WorkerState

MAX_WORKERS = 1024
"""The most workers a pool may be asked to run."""

ALWAYS_OVERLAPPED = ("manual", "reload")
"""Recycle reasons whose replacement is always started before the old worker drains."""


DEFAULT_TTL = TTLRange(0, 5)
"""The TTL range of the Node.js cluster example recycler reproduces."""


class PoolError(Exception):
    """A request to the pool that cannot be carried out; the message says why."""


@attrs.frozen
class PoolConfig:
    """
    How a pool recycles its workers.

    @ivar target: How many workers to keep.
    @ivar ttl: Range each worker's lifetime is drawn from, or L{None}.
    @ivar grace: Seconds a draining worker gets before SIGKILL.
    @ivar overlap: Start a replacement, and drain the old worker only once the
        replacement is ready, so planned recycling never lowers capacity.
    @ivar maxDraining: How many planned recycles may be in progress at once;
        more wait in a queue.
    @ivar maxRequests: Recycle a worker after this many requests, or L{None}.
    @ivar maxRequestsJitter: Add 0..J (drawn per worker) to C{maxRequests}.
    @ivar maxRss: Recycle a worker whose resident memory exceeds this many
        bytes on two samples in a row, or L{None}.
    @ivar rssInterval: Seconds between memory samples.
    @ivar timeout: Kill a ready worker silent for this many seconds, or L{None}.
    @ivar bootTimeout: Kill a worker not ready after this many seconds, or L{None}.
    """

    target: int = 4
    ttl: TTLRange | None = DEFAULT_TTL
    grace: float = 30.0
    overlap: bool = True
    maxDraining: int = 1
    maxRequests: int | None = None
    maxRequestsJitter: int = 0
    maxRss: int | None = None
    rssInterval: float = 5.0
    timeout: float | None = 30.0
    bootTimeout: float | None = 60.0


@attrs.frozen
class WorkerCommand:
    """
    How to start one worker process.

    @ivar executable: Program to run (normally C{sys.executable}).
    @ivar args: Full argv, C{args[0]} included, less C{--listeners}.
    @ivar env: The worker's environment.
    @ivar listenerFDs: The master's fds of the shared listening sockets; the
        worker receives them as fds 5, 6, ...
    """

    executable: str
    args: Sequence[str]
    env: Mapping[str, str]
    listenerFDs: Sequence[int] = ()

    def argv(self) -> list[str]:
        """C{args}, telling the worker how many listening sockets it gets."""
        return [*self.args, "--listeners", str(len(self.listenerFDs))]

    def childFDs(self) -> dict[int, int | str]:
        """The C{childFDs} mapping for C{spawnProcess}."""
        fds: dict[int, int | str] = {
            0: "w",
            1: "r",
            2: "r",
            wire.COMMAND_FD: "w",
            wire.EVENT_FD: "r",
        }
        for offset, fd in enumerate(self.listenerFDs):
            fds[wire.FIRST_LISTENER_FD + offset] = fd
        return fds


class WorkerPool(Service):
    """
    Keeps C{target} workers serving and recycles them without lowering capacity.

    Planned recycles (TTL, max requests, memory, C{reload}, C{kill}) go through
    a queue: at most C{maxDraining} are in progress at once. With C{overlap},
    the replacement is spawned first and the old worker drains only once the
    pool has C{target} other ready workers. Workers that die before they are
    ready start a crash streak: respawns back off, one probe at a time, and the
    healthy workers keep serving. L{stopService} drains every worker and fires
    once all have exited.

    @ivar target: How many workers the pool keeps.
    @ivar ttl: Range lifetimes of workers spawned from now on are drawn from.
    @ivar workers: Live workers (not yet exited) by id.
    @ivar crashStreak: Consecutive workers that failed to start.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorProcess,
        command: WorkerCommand,
        config: PoolConfig,
        random: Random = _random.random,
        memoryOf: Callable[[int | None], int | None] = residentBytes,
    ) -> None:
        self._reactor = reactor
        self._clock = IReactorTime(reactor)
        self.command = command
        self.config = config
        self.target = config.target
        self.ttl = config.ttl
        self._random = random
        self._memoryOf = memoryOf
        self._backoff = crashBackoff(random)
        self.workers: dict[int, WorkerProcess] = {}
        self._lastId = 0
        self._queue: list[WorkerProcess] = []
        self._retiring: set[WorkerProcess] = set()
        self._memoryStrikes: Counter[int] = Counter()
        self._memoryCheck = LoopingCall(self._checkMemory)
        self._memoryCheck.clock = self._clock
        self.crashStreak = 0
        self._retries = 0
        self._respawnCall: IDelayedCall | None = None
        self._allEnded = Completion()
        self._observers: list[Callable[[dict[str, Any]], None]] = []
        self._startedAt = self._clock.seconds()
        self._totals: Counter[str] = Counter()
        self._recycles: Counter[str] = Counter()

    # Service

    def startService(self) -> None:
        super().startService()
        self._startedAt = self._clock.seconds()
        if self.config.maxRss is not None:
            self._memoryCheck.start(self.config.rssInterval, now=False)
        self._reconcile()

    def stopService(self) -> Deferred[None]:
        """Drain every worker; the result fires when the last one has exited."""
        super().stopService()
        if self._memoryCheck.running:
            self._memoryCheck.stop()
        if self._respawnCall is not None and self._respawnCall.active():
            self._respawnCall.cancel()
        self._respawnCall = None
        self._queue.clear()
        self._allEnded = Completion()
        for worker in sorted(self.workers.values(), key=lambda w: w.workerId):
            worker.drain("stop")
        if not self.workers:
            self._allEnded.fire()
        return self._allEnded.wait()

    # Operator requests (admin port, signals)

    def scale(self, target: int) -> None:
        """Keep C{target} workers: spawn at once, or drain the oldest first."""
        if not 1 <= target <= MAX_WORKERS:
            raise PoolError(f"the pool size must be between 1 and {MAX_WORKERS}, not {target}")
        self.log.info("target: {old} -> {new} workers", old=self.target, new=target)
        self.target = target
        self._schedule()

    def spawn(self, count: int = 1) -> None:
        """Add C{count} workers now."""
        if count < 1:
            raise PoolError(f"cannot spawn {count} workers")
        self.scale(self.target + count)

    def kill(self, workerId: int, now: bool = False, force: bool = False) -> None:
        """
        Recycle one worker: a replacement starts first and the worker drains once
        it is ready; with C{now}, SIGKILL it at once. Refused, unless C{force},
        when it would leave fewer than C{target} ready workers.
        """
        worker = self.workers.get(workerId)
        if worker is None:
            gone = 0 < workerId <= self._lastId
            raise PoolError(f"worker {workerId} {'has exited' if gone else 'does not exist'}")
        if force and not now:
            raise PoolError("--force goes with --now (a plain kill never lowers capacity)")
        if worker.state is WorkerState.DRAINING and not now:
            raise PoolError(f"worker {workerId} is already draining (use --now to kill it)")
        if now:
            if not force and self._lowersCapacity(worker):
                raise PoolError(
                    f"killing worker {workerId} now would leave fewer than {self.target} "
                    f"ready workers; use --force"
                )
            worker.kill("manual")
            self._schedule()
            return
        if worker in self._queue:
            self._queue.remove(worker)
        worker.recycleReason = "manual"
        self._startRecycling(worker)
        self._schedule()

    def reload(self) -> None:
        """Rolling restart: recycle every current worker, replacements first."""
        for worker in sorted(self.workers.values(), key=lambda w: w.workerId):
            if worker.state is not WorkerState.DRAINING and worker not in self._retiring:
                if worker in self._queue:
                    self._queue.remove(worker)
                worker.recycleReason = "reload"
                self._queue.append(worker)
        self.log.info("reload: {count} workers to recycle", count=len(self._queue))
        self._schedule()

    def nextRespawnIn(self) -> float | None:
        """Seconds until the next start attempt while backing off, else L{None}."""
        if self._respawnCall is None or not self._respawnCall.active():
            return None
        return max(0.0, self._respawnCall.getTime() - self._clock.seconds())

    def stats(self) -> dict[str, Any]:
        """Pool totals; counters stay monotonic across recycling."""
        live = list(self.workers.values())
        return {
            "born": self._totals["born"],
            "exited": self._totals["exited"],
            "killed": self._totals["killed"],
            "served": self._totals["served"] + sum(w.served for w in live),
            "inFlight": sum(w.inFlight for w in live),
            "spawnFailures": self._totals["spawnFailures"],
            "recycles": dict(self._recycles),
            "uptime": self._clock.seconds() - self._startedAt,
            "target": self.target,
            "states": {state.value: n for state, n in self.countByState().items()},
        }

    def countByState(self) -> dict[WorkerState, int]:
        """How many live workers are in each state (starting, ready, draining)."""
        counts = dict.fromkeys((WorkerState.STARTING, WorkerState.READY, WorkerState.DRAINING), 0)
        for worker in self.workers.values():
            if worker.state in counts:
                counts[worker.state] += 1
        return counts

    def addObserver(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """Call C{observer} with every worker event (born, ready, draining, ...)."""
        self._observers.append(observer)

    def removeObserver(self, observer: Callable[[dict[str, Any]], None]) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    # Callbacks from WorkerProcess

    def workerEvent(self, event: dict[str, Any]) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                self.log.failure("pool observer {observer!r} failed; removed", observer=observer)
                self.removeObserver(observer)

    def workerReady(self, worker: WorkerProcess) -> None:
        if self.crashStreak:
            self.log.info(
                "worker {workerId} is ready: recovered after {failures} failed start(s)",
                workerId=worker.workerId,
                failures=self.crashStreak,
            )
            self.crashStreak = self._retries = 0
        self._schedule()

    def workerWantsRecycling(self, worker: WorkerProcess, reason: str) -> None:
        """A trigger fired (TTL, max requests, memory): queue the worker for recycling."""
        if worker.recycleReason is not None or worker.state is not WorkerState.READY:
            return
        worker.recycleReason = reason
        self._queue.append(worker)
        self._schedule()

    def workerEnded(self, worker: WorkerProcess) -> None:
        del self.workers[worker.workerId]
        self._retiring.discard(worker)
        if worker in self._queue:
            self._queue.remove(worker)
        self._memoryStrikes.pop(worker.workerId, None)
        self._totals.update(exited=1, served=worker.served, killed=int(worker.killed))
        reason = worker.recycleReason if worker.stopRequested else None
        if reason != "stop":
            self._recycles[reason or "crash"] += 1
        if not self.running:
            if not self.workers:
                self._allEnded.fire()
            return
        if worker.becameReady or reason not in (None, "boot-timeout"):
            self.log.info(
                "respawning: worker {workerId} exited ({reason})",
                workerId=worker.workerId,
                reason=reason or worker.exitDescription(),
                event="respawn",
            )
            self.workerEvent({"event": "respawn", "workerId": worker.workerId})
            self._schedule()
        else:
            self._startFailed(
                f"worker {worker.workerId} exited before it was ready "
                f"({reason or worker.exitDescription()})"
            )

    # Internals

    def _active(self) -> list[WorkerProcess]:
        """Workers that count toward the target: starting or ready, not being recycled."""
        return [
            w
            for w in self.workers.values()
            if w.state in (WorkerState.STARTING, WorkerState.READY)
            and w not in self._retiring
            and not (w.killed or w.processGone)
        ]

    def _readyCount(self) -> int:
        return sum(1 for w in self._active() if w.state is WorkerState.READY)

    def _lowersCapacity(self, worker: WorkerProcess) -> bool:
        """Whether losing C{worker} now leaves fewer than C{target} ready workers."""
        counted = worker.state is WorkerState.READY and worker not in self._retiring
        return counted and self._readyCount() - 1 < self.target

    def _startRecycling(self, worker: WorkerProcess) -> None:
        self._retiring.add(worker)
        if not (self.config.overlap or worker.recycleReason in ALWAYS_OVERLAPPED):
            worker.drain(worker.recycleReason or "recycle")

    def _schedule(self) -> None:
        """Start queued recycles while slots are free, then rebalance the pool."""
        if not self.running:
            return
        for worker in list(self._queue):
            if len(self._retiring) >= self.config.maxDraining:
                break
            if worker.state is WorkerState.STARTING:
                continue  # recycled once it is ready
            self._queue.remove(worker)
            if worker.state is WorkerState.READY:
                self._startRecycling(worker)
        self._reconcile()
        self._drainReplaced()

    def _drainReplaced(self) -> None:
        """Drain recycled workers whose replacements are ready (oldest first)."""
        waiting = sorted(
            (w for w in self._retiring if w.state is WorkerState.READY),
            key=lambda w: w.workerId,
        )
        for worker in waiting:
            if self._readyCount() < self.target:
                return
            worker.drain(worker.recycleReason or "recycle")

    def _reconcile(self) -> None:
        """
        Spawn or drain until C{target} workers are active. During a crash
        streak only one worker starts at a time, as a probe.
        """
        if not self.running:
            return
        active = self._active()
        starting = sorted(
            (w for w in active if w.state is WorkerState.STARTING), key=lambda w: -w.workerId
        )
        ready = sorted(
            (w for w in active if w.state is WorkerState.READY), key=lambda w: w.workerId
        )
        for worker in (starting + ready)[: max(0, len(active) - self.target)]:
            worker.drain("scale")
        if self._respawnCall is not None:
            return
        for _ in range(self.target - len(active)):
            if self.crashStreak and self.countByState()[WorkerState.STARTING]:
                return
            if not self._spawn():
                return

    def _spawn(self) -> bool:
        self._lastId += 1
        workerId = self._lastId
        worker = WorkerProcess(workerId, self._clock, self, self._drawLimits())
        try:
            self._reactor.spawnProcess(
                worker,
                self.command.executable,
                self.command.argv(),
                env=dict(self.command.env),
                childFDs=self.command.childFDs(),
            )
        except OSError as e:
            self._startFailed(f"cannot spawn worker {workerId}: {e}")
            return False
        worker.transport.closeChildFD(0)
        self.workers[workerId] = worker
        self._totals["born"] += 1
        return True

    def _drawLimits(self) -> WorkerLimits:
        config = self.config
        maxRequests = config.maxRequests
        if maxRequests is not None:
            maxRequests += int(self._random() * (config.maxRequestsJitter + 1))
        return WorkerLimits(
            ttl=None if self.ttl is None else self.ttl.draw(self._random),
            maxRequests=maxRequests,
            grace=config.grace,
            timeout=config.timeout,
            bootTimeout=config.bootTimeout,
        )

    def _startFailed(self, why: str) -> None:
        """A worker could not start: respawn after a growing delay."""
        self.crashStreak += 1
        self._totals["spawnFailures"] += 1
        if self.crashStreak == 1:
            self.log.error(
                "{why}; retrying with backoff (logged once until a worker is ready)", why=why
            )
        else:
            self.log.debug("{why}; failure {failures}", why=why, failures=self.crashStreak)
        if self._respawnCall is None:
            delay = self._backoff(self._retries)
            self._retries += 1
            self._respawnCall = self._clock.callLater(delay, self._respawnAfterBackoff)

    def _respawnAfterBackoff(self) -> None:
        self._respawnCall = None
        self._schedule()

    def _checkMemory(self) -> None:
        """Recycle ready workers over C{maxRss} on two samples in a row."""
        limit = self.config.maxRss
        for worker in list(self.workers.values()):
            if worker.state is not WorkerState.READY or worker.recycleReason is not None:
                continue
            rss = self._memoryOf(worker.pid)
            if rss is None or limit is None or rss <= limit:
                self._memoryStrikes.pop(worker.workerId, None)
                continue
            self._memoryStrikes[worker.workerId] += 1
            if self._memoryStrikes[worker.workerId] >= 2:
                self.log.info(
                    "worker {workerId} uses {rss} bytes, over {limit}",
                    workerId=worker.workerId,
                    rss=rss,
                    limit=limit,
                )
                self.workerWantsRecycling(worker, "max-rss")
