"""The pool: keeps the target number of workers alive and recycles them.

L{WorkerPool} makes every decision (when to spawn, whom to drain, how long to
back off after a crash) with an injected reactor, so tests drive it with a fake
process reactor and a L{twisted.internet.task.Clock}.
"""

from __future__ import annotations

import itertools
import random as _random
from collections.abc import Mapping, Sequence

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorProcess, IReactorTime
from twisted.logger import Logger

from recycler import messages
from recycler.policy import Random, TTLRange, crashBackoff
from recycler.workerprocess import WorkerProcess, WorkerState


@attrs.frozen
class WorkerCommand:
    """
    How to start one worker process.

    @ivar executable: Program to run (normally C{sys.executable}).
    @ivar args: Full argv, C{args[0]} included.
    @ivar env: The worker's environment.
    @ivar listenerFDs: The master's fds of the shared listening sockets; the
        worker receives them as fds 5, 6, ...
    """

    executable: str
    args: Sequence[str]
    env: Mapping[str, str]
    listenerFDs: Sequence[int] = ()

    def childFDs(self) -> dict[int, int | str]:
        """The C{childFDs} mapping for C{spawnProcess}."""
        fds: dict[int, int | str] = {
            0: "w",
            1: "r",
            2: "r",
            messages.COMMAND_FD: "w",
            messages.EVENT_FD: "r",
        }
        for offset, fd in enumerate(self.listenerFDs):
            fds[messages.FIRST_LISTENER_FD + offset] = fd
        return fds


class WorkerPool(Service):
    """
    Keeps C{target} workers running, recycles each when its TTL expires, and
    on stop drains them all; L{stopService} fires once every worker has exited.

    @ivar target: How many workers the pool keeps.
    @ivar ttl: Range each worker's lifetime is drawn from, or L{None}.
    @ivar grace: Seconds a draining worker gets before SIGKILL.
    @ivar workers: Live workers (not yet exited) by id.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorProcess,
        command: WorkerCommand,
        target: int,
        ttl: TTLRange | None,
        grace: float,
        random: Random = _random.random,
    ) -> None:
        self._reactor = reactor
        self._clock = IReactorTime(reactor)
        self.command = command
        self.target = target
        self.ttl = ttl
        self.grace = grace
        self._random = random
        self._backoff = crashBackoff(random)
        self.workers: dict[int, WorkerProcess] = {}
        self._ids = itertools.count(1)
        self.crashStreak = 0
        self._respawnCall: IDelayedCall | None = None
        self._allEnded: list[Deferred[None]] = []

    # Service

    def startService(self) -> None:
        super().startService()
        self._reconcile()

    def stopService(self) -> Deferred[None]:
        """Drain every worker; the result fires when the last one has exited."""
        super().stopService()
        if self._respawnCall is not None and self._respawnCall.active():
            self._respawnCall.cancel()
        self._respawnCall = None
        for worker in list(self.workers.values()):
            worker.drain("stop")
        if not self.workers:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        self._allEnded.append(waiting)
        return waiting

    # Callbacks from WorkerProcess

    def workerReady(self, worker: WorkerProcess) -> None:
        if self.crashStreak:
            self.log.info(
                "worker {workerId} is ready: recovered after {failures} failed start(s)",
                workerId=worker.workerId,
                failures=self.crashStreak,
            )
            self.crashStreak = 0
        self._reconcile()

    def workerExpired(self, worker: WorkerProcess) -> None:
        worker.drain("ttl")

    def workerEnded(self, worker: WorkerProcess) -> None:
        del self.workers[worker.workerId]
        if not self.running:
            if not self.workers:
                waiting, self._allEnded = self._allEnded, []
                for d in waiting:
                    d.callback(None)
            return
        if worker.becameReady or worker.drainReason is not None:
            self.log.info(
                "respawning: worker {workerId} exited ({reason})",
                workerId=worker.workerId,
                reason=worker.drainReason or worker.exitDescription(),
                event="respawn",
            )
            self._reconcile()
        else:
            self._startFailed(
                f"worker {worker.workerId} exited before it was ready ({worker.exitDescription()})"
            )

    # Internals

    def _reconcile(self) -> None:
        """
        Spawn workers until the pool has C{target} of them again. During a
        crash streak only one worker starts at a time, as a probe.
        """
        if not self.running or self._respawnCall is not None:
            return
        while len(self.workers) < self.target:
            if self.crashStreak and self.countByState()[WorkerState.STARTING]:
                return
            if not self._spawn():
                return

    def _spawn(self) -> bool:
        workerId = next(self._ids)
        ttl = None if self.ttl is None else self.ttl.draw(self._random)
        worker = WorkerProcess(workerId, self._clock, self, ttl, self.grace)
        try:
            self._reactor.spawnProcess(
                worker,
                self.command.executable,
                list(self.command.args),
                env=dict(self.command.env),
                childFDs=self.command.childFDs(),
            )
        except OSError as e:
            self._startFailed(f"cannot spawn worker {workerId}: {e}")
            return False
        worker.transport.closeChildFD(0)
        self.workers[workerId] = worker
        return True

    def _startFailed(self, why: str) -> None:
        """A worker could not start: respawn after a growing delay."""
        self.crashStreak += 1
        delay = self._backoff(self.crashStreak - 1)
        if self.crashStreak == 1:
            self.log.error(
                "{why}; retrying with backoff (logged once until a worker is ready)", why=why
            )
        else:
            self.log.debug("{why}; failure {failures}", why=why, failures=self.crashStreak)
        if self._respawnCall is None:
            self._respawnCall = self._clock.callLater(delay, self._respawnAfterBackoff)

    def _respawnAfterBackoff(self) -> None:
        self._respawnCall = None
        self._reconcile()

    def countByState(self) -> dict[WorkerState, int]:
        """How many live workers are in each state."""
        counts = dict.fromkeys(WorkerState, 0)
        for worker in self.workers.values():
            counts[worker.state] += 1
        return counts
