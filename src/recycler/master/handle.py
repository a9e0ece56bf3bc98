# -*- test-case-name: tests.master.test_handle -*-
"""The master's view of one worker process: a ProcessProtocol that owns its life.

A L{WorkerHandle} moves its worker through the states of
L{recycler.master.lifecycle} (and nowhere else), arms the worker's triggers,
reads its event pipe, relays its stdout/stderr into the master's log, asks it
to drain (or reopen its access log) over the command pipe, arms the SIGKILL
deadline, and cancels every pending call once the process has exited, so no
signal can ever reach a recycled pid.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import ILogObserver, Logger, LogLevel
from twisted.python.failure import Failure

from recycler import wire
from recycler.master.callbacks import PoolCallbacks
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.lifecycle import Input, WorkerState, nextState
from recycler.master.output import OutputRelay
from recycler.master.pipes import Lines
from recycler.master.triggers import RequestLimit, TimeToLive, Trigger

PIPE_LINGER = 1.0
"""Seconds the master keeps reading a dead worker's pipes before closing them."""

STACK_DUMP_WAIT = 1.0
"""Seconds a hung worker gets to dump its stacks (on SIGUSR2) before SIGKILL."""


class WorkerHandle(ProcessProtocol):
    """
    One worker process, seen from the master.

    @ivar workerId: Generation number; never reused within a master's life.
    @ivar state: Where it is in its life (a L{WorkerState}); only L{_enter} changes it.
    @ivar stopReason: Why the master is stopping it, or L{None}; only L{_enter} writes it.
    @ivar endedIn: The state it was in when its process exited, once it has.
    @ivar served: Requests completed, as last reported by the worker.
    @ivar inFlight: Requests in progress, as last reported by the worker.
    @ivar failure: Why the worker could not start, as it reported (e.g. an import error).
    @ivar failureTraceback: The traceback of that failure, if it sent one.
    @ivar exitCode: Exit status once ended (L{None} if killed by a signal).
    @ivar exitSignal: Signal number that ended it, if any.
    @ivar ttl: The lifetime drawn for it, or L{None}.
    @ivar spawnMode: C{"fork"} or C{"exec"}.
    """

    def __init__(
        self,
        workerId: int,
        clock: IReactorTime,
        pool: PoolCallbacks,
        triggers: Sequence[Trigger],
        grace: float,
        events: ILogObserver,
        spawnMode: str = "exec",
    ) -> None:
        self.workerId = workerId
        self.state = WorkerState.STARTING
        self.stopReason: StopReason | None = None
        self.endedIn: WorkerState | None = None
        self.pid: int | None = None
        self.served = 0
        self.inFlight = 0
        self.failure: str | None = None
        self.failureTraceback: str | None = None
        self.exitCode: int | None = None
        self.exitSignal: int | None = None
        self.spawnedAt = clock.seconds()
        self.readyAt: float | None = None
        self.grace = grace
        self.spawnMode = spawnMode
        self.log = Logger(observer=events)
        self._clock = clock
        self._pool = pool
        self._triggers = list(triggers)
        self._ttl = next((t for t in triggers if isinstance(t, TimeToLive)), None)
        self.ttl = None if self._ttl is None else self._ttl.seconds
        self._deadline: IDelayedCall | None = None
        self._pipes = {
            wire.EVENT_FD: Lines(self._eventLine),
            1: OutputRelay(clock, self.log, workerId, "stdout"),
            2: OutputRelay(clock, self.log, workerId, "stderr"),
        }

    # ProcessProtocol

    def connectionMade(self) -> None:
        self.pid = self.transport.pid
        self.transport.closeStdin()
        ttl, limits = self.ttl, [t.limit for t in self._triggers if isinstance(t, RequestLimit)]
        self._event(
            WorkerEvent.BORN,
            "worker {workerId} born ({spawn}): pid {pid}, ttl {ttl}",
            spawn=self.spawnMode,
            ttl="off" if ttl is None else f"{ttl:.3f}s",
            ttlSeconds=ttl,
            maxRequests=limits[0] if limits else None,
        )
        for trigger in self._triggers:
            trigger.arm(self._triggered)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        pipe = self._pipes.get(childFD)
        if pipe is not None:
            pipe.dataReceived(data)

    def processExited(self, reason: Failure) -> None:
        """
        The process is gone. Twisted calls L{processEnded} only once its pipes
        are closed too, which a subprocess the app started may delay by keeping
        stdout open; so no signal is sent from now on, and the pipes are closed
        if they are still open a moment later.
        """
        self._enter(Input.PROCESS_EXITED)
        self._deadline = self._clock.callLater(PIPE_LINGER, self._closePipes)
        self._pool.workerExited(self)

    def processEnded(self, reason: Failure) -> None:
        for fd in (1, 2):
            self._pipes[fd].flush()
        self._enter(Input.ENDED)
        if reason.check(ProcessDone, ProcessTerminated):
            self.exitCode = reason.value.exitCode
            self.exitSignal = reason.value.signal
        self._event(
            WorkerEvent.EXITED,
            "worker {workerId} exited: pid {pid}, {status}, served {served}",
            status=self.exitStatus(),
            failure=self.failure,
            served=self.served,
            exitCode=self.exitCode,
            exitSignal=self.exitSignal,
            reason=self.stopReason,
        )
        self._pool.workerEnded(self)

    # What the pool asks

    def retire(self, reason: StopReason) -> None:
        """Its replacement is starting: keep serving until asked to drain."""
        self._enter(Input.RETIRE, reason)
        self._event(WorkerEvent.RETIRING, "worker {workerId} retiring ({reason})", reason=reason)

    def drain(self, reason: StopReason) -> None:
        """
        Ask the worker to stop accepting, finish what it has and exit; SIGKILL
        it if it is still alive after its grace. Does nothing once it is stopping.
        """
        if not self.state.serving and self.state is not WorkerState.STARTING:
            return
        self._enter(Input.DRAIN, reason)
        self._event(
            WorkerEvent.DRAINING,
            "worker {workerId} draining ({reason}): pid {pid}, in flight {inFlight}",
            reason=self.stopReason,
            inFlight=self.inFlight,
        )
        self._send(wire.Command.DRAIN)
        self._deadline = self._clock.callLater(self.grace, self.kill, StopReason.GRACE_EXPIRED)

    def reopenLogs(self) -> None:
        """Ask the worker to reopen its access log (the master got SIGUSR1), if it is alive."""
        self._send(wire.Command.REOPEN)

    def kill(self, reason: StopReason) -> None:
        """
        SIGKILL the worker now, unless its process has already exited. A hung
        worker first gets SIGUSR2, on which it dumps its threads' stacks (the
        evidence of where it hung), and SIGKILL a moment later.
        """
        if not self.state.signallable or self.state is WorkerState.KILLED:
            return
        self._enter(Input.KILL, reason)
        self._cancelDeadline()
        self._event(
            WorkerEvent.KILLED,
            "worker {workerId} killed ({why}): pid {pid}",
            LogLevel.warn,
            why=reason,
        )
        hung = reason is StopReason.HUNG  # (a number: Twisted names only five signals)
        self._signal(signal.SIGUSR2 if hung else "KILL")
        if hung:
            self._deadline = self._clock.callLater(STACK_DUMP_WAIT, self._signal, "KILL")

    # Describing

    def ttlLeft(self, now: float) -> float | None:
        """Seconds until the TTL expires, or L{None} if no TTL is counting down."""
        return None if self._ttl is None else self._ttl.left(now)

    @property
    def wasStopped(self) -> bool:
        """Whether the master stopped it (rather than it exiting on its own)."""
        return self.endedIn in (WorkerState.DRAINING, WorkerState.KILLED)

    @property
    def startup(self) -> float | None:
        """Seconds from spawn to ready, once it was ready."""
        return None if self.readyAt is None else self.readyAt - self.spawnedAt

    @property
    def killed(self) -> bool:
        """Whether the master had to SIGKILL it."""
        return WorkerState.KILLED in (self.state, self.endedIn)

    def exitStatus(self) -> str:
        """C{"exit code N"} or C{"signal N"}."""
        if self.exitSignal is not None:
            return f"signal {self.exitSignal}"
        return f"exit code {self.exitCode}"

    def exitDescription(self) -> str:
        """L{exitStatus}, and the reported failure if any."""
        return f"{self.exitStatus()}: {self.failure}" if self.failure else self.exitStatus()

    # Internals

    def _enter(self, happened: Input, reason: StopReason | None = None) -> None:
        """
        The one place where the state and the stop reason change. The first
        reason sticks, except that a hang or boot timeout overrides a planned one.
        """
        before = self.state
        self.state = nextState(before, happened)
        if reason is not None and (self.stopReason is None or not reason.planned):
            self.stopReason = reason
        if not self.state.serving:
            for trigger in self._triggers:
                trigger.disarm()
        if not self.state.signallable:
            self.endedIn = self.endedIn or before
            self._cancelDeadline()

    def _triggered(self, reason: StopReason) -> None:
        if reason.planned:
            self._pool.workerWantsRecycling(self, reason)
        else:
            self.kill(reason)

    def _eventLine(self, line: bytes) -> None:
        try:
            message = wire.decode(line)
        except ValueError:
            self.log.warn(
                "worker {workerId} sent a malformed control line: {line!r}",
                workerId=self.workerId,
                line=line[:200],
            )
            return
        kind = message["kind"]
        if kind == wire.Event.STATUS:
            served, inFlight = message.get("served"), message.get("inFlight")
            if isinstance(served, int) and isinstance(inFlight, int):
                self.served, self.inFlight = served, inFlight
        elif kind == wire.Event.READY:
            self._becomeReady()
        elif kind == wire.Event.FAILED:
            self.failure = str(message.get("reason"))
            details = message.get("traceback")
            self.failureTraceback = details if isinstance(details, str) else None
        for trigger in self._triggers:
            trigger.heard(message)

    def _becomeReady(self) -> None:
        if self.state is not WorkerState.STARTING:
            return
        self._enter(Input.READY)
        self.readyAt = self._clock.seconds()
        self._event(
            WorkerEvent.READY,
            "worker {workerId} ready: pid {pid} in {startup:.3f}s",
            startup=self.readyAt - self.spawnedAt,
        )
        for trigger in self._triggers:
            trigger.ready(self.pid)
        self._pool.workerReady(self)

    def _event(
        self, kind: WorkerEvent, format: str, level: LogLevel = LogLevel.info, **fields: Any
    ) -> None:
        """Log a lifecycle event on the pool's event channel (the log and C{watch})."""
        self.log.emit(level, format, event=kind, workerId=self.workerId, pid=self.pid, **fields)

    def _send(self, command: wire.Command) -> None:
        """Write C{command} to the worker's command pipe, unless its process has exited."""
        if self.state.signallable:
            with suppress(KeyError, OSError):  # the pipe is closed: the worker is exiting
                self.transport.writeToChild(wire.COMMAND_FD, wire.encode(command))

    def _signal(self, signalID: str | int) -> None:
        self._deadline = None
        try:
            self.transport.signalProcess(signalID)
        except ProcessExitedAlready:
            pass  # processExited is on its way

    def _cancelDeadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _closePipes(self) -> None:
        self._deadline = None
        for fd in (1, 2, wire.COMMAND_FD, wire.EVENT_FD):
            self.transport.closeChildFD(fd)
