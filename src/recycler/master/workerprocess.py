"""The master's view of one worker process: a ProcessProtocol that owns its timers.

A L{WorkerProcess} arms the worker's time-to-live once the worker reports ready,
watches its heartbeat (and its boot deadline), asks it to drain over the control
pipe, arms the SIGKILL deadline, relays its stdout/stderr into the master's log,
and cancels every pending call when the process ends, so no signal can ever
reach a recycled pid.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

import attrs
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from recycler import wire

PIPE_LINGER = 1.0
"""Seconds the master keeps reading a dead worker's pipes before closing them."""


class WorkerState(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    EXITED = "exited"


class PoolCallbacks(TypingProtocol):
    """What a L{WorkerProcess} tells its pool."""

    def workerReady(self, worker: WorkerProcess) -> None: ...

    def workerWantsRecycling(self, worker: WorkerProcess, reason: str) -> None: ...

    def workerEnded(self, worker: WorkerProcess) -> None: ...

    def workerEvent(self, event: dict[str, Any]) -> None: ...


@attrs.frozen
class WorkerLimits:
    """
    The limits one worker lives under, drawn by the pool when it is spawned.

    @ivar ttl: Seconds it may serve once ready, or L{None}.
    @ivar maxRequests: Requests after which it is recycled, or L{None}.
    @ivar grace: Seconds it gets to drain before SIGKILL.
    @ivar timeout: Seconds a ready worker may stay silent (no heartbeat) before
        it is considered hung and killed, or L{None}.
    @ivar bootTimeout: Seconds it may take to become ready, or L{None}.
    """

    ttl: float | None = None
    maxRequests: int | None = None
    grace: float = 30.0
    timeout: float | None = None
    bootTimeout: float | None = None


class _LineSplitter:
    """Splits a byte stream into lines (without the newline) for a callback.

    A line longer than C{maxLength} is handed over in C{maxLength} pieces, so a
    worker that never writes a newline cannot grow the master's memory.
    """

    def __init__(self, onLine: Callable[[bytes], None], maxLength: int = 64 * 1024) -> None:
        self._onLine = onLine
        self._maxLength = maxLength
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        while len(self._buffer) > self._maxLength:
            lines.append(self._buffer[: self._maxLength])
            self._buffer = self._buffer[self._maxLength :]
        for line in lines:
            self._onLine(line.rstrip(b"\r"))

    def flush(self) -> None:
        """Hand over a last line that had no newline."""
        rest, self._buffer = self._buffer, b""
        if rest:
            self._onLine(rest.rstrip(b"\r"))


class WorkerProcess(ProcessProtocol):
    """
    One worker process, seen from the master.

    @ivar workerId: Generation number; never reused within a master's life.
    @ivar limits: The L{WorkerLimits} it was spawned with.
    @ivar state: The current L{WorkerState}.
    @ivar served: Requests completed, as last reported by the worker.
    @ivar inFlight: Requests in progress, as last reported by the worker.
    @ivar recycleReason: Why it is being recycled (C{"ttl"}, C{"max-requests"},
        C{"manual"}, C{"timeout"}, ...), or L{None}.
    @ivar stopRequested: Whether the master asked it to drain or killed it.
    @ivar killed: Whether the master had to SIGKILL it.
    @ivar processGone: Whether the process has exited (its pipes may still be open).
    @ivar failure: Why the worker could not start, as it reported (e.g. an import error).
    @ivar exitCode: Exit status once ended (L{None} if killed by a signal).
    @ivar exitSignal: Signal number that ended it, if any.
    """

    log = Logger()

    def __init__(
        self, workerId: int, clock: IReactorTime, pool: PoolCallbacks, limits: WorkerLimits
    ) -> None:
        self.workerId = workerId
        self.limits = limits
        self.state = WorkerState.STARTING
        self.pid: int | None = None
        self.served = 0
        self.inFlight = 0
        self.recycleReason: str | None = None
        self.stopRequested = False
        self.killed = False
        self.processGone = False
        self.failure: str | None = None
        self.exitCode: int | None = None
        self.exitSignal: int | None = None
        self._clock = clock
        self._pool = pool
        self.spawnedAt = clock.seconds()
        self.readyAt: float | None = None
        self._timers: dict[str, IDelayedCall] = {}
        self._events = _LineSplitter(self._eventLine)
        self._output = {
            fd: _LineSplitter(lambda line, fd=fd: self._outputLine(fd, line)) for fd in (1, 2)
        }

    # ProcessProtocol

    def connectionMade(self) -> None:
        self.pid = self.transport.pid
        ttl = self.limits.ttl
        self._event(
            "born",
            "worker {workerId} born: pid {pid}, ttl {ttl}",
            ttl="off" if ttl is None else f"{ttl:.3f}s",
            ttlSeconds=ttl,
            maxRequests=self.limits.maxRequests,
        )
        if self.limits.bootTimeout is not None:
            self._arm("boot", self.limits.bootTimeout, self.kill, "boot-timeout")

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == wire.EVENT_FD:
            self._events.dataReceived(data)
        elif childFD in self._output:
            self._output[childFD].dataReceived(data)

    def processExited(self, reason: Failure) -> None:
        """
        The process is gone. Twisted calls L{processEnded} only once its pipes
        are closed too, which a subprocess the app started may delay by keeping
        stdout open; so no signal is sent from now on, and the pipes are closed
        if they are still open a moment later.
        """
        self.processGone = True
        self._cancelTimers()
        self._arm("reap", PIPE_LINGER, self._closePipes)

    def processEnded(self, reason: Failure) -> None:
        for splitter in self._output.values():
            splitter.flush()
        self._cancelTimers()
        self.processGone = True
        self.state = WorkerState.EXITED
        if reason.check(ProcessDone, ProcessTerminated):
            self.exitCode = reason.value.exitCode
            self.exitSignal = reason.value.signal
        self._event(
            "exited",
            "worker {workerId} exited: pid {pid}, {status}, served {served}",
            status=self.exitDescription(),
            served=self.served,
            exitCode=self.exitCode,
            exitSignal=self.exitSignal,
            reason=self.recycleReason,
        )
        self._pool.workerEnded(self)

    # Commands from the pool

    def drain(self, reason: str) -> None:
        """
        Ask the worker to stop accepting, finish what it has and exit; SIGKILL
        it if it is still alive after its grace. Idempotent.
        """
        if self.state not in (WorkerState.STARTING, WorkerState.READY):
            return
        self.state = WorkerState.DRAINING
        self.stopRequested = True
        if self.recycleReason is None:
            self.recycleReason = reason
        self._cancelTimers()
        self._event(
            "draining",
            "worker {workerId} draining ({reason}): pid {pid}, in flight {inFlight}",
            reason=self.recycleReason,
            inFlight=self.inFlight,
        )
        try:
            self.transport.writeToChild(wire.COMMAND_FD, wire.encode("drain"))
        except (KeyError, OSError):
            pass  # its command pipe is closed: the worker is exiting anyway
        self._arm("kill", self.limits.grace, self.kill, "grace expired")

    def kill(self, why: str) -> None:
        """SIGKILL the worker now, unless it has already gone; C{why} becomes its reason."""
        if self.processGone:
            return
        self._cancelTimers()
        self.stopRequested = True
        if self.recycleReason is None or why in ("timeout", "boot-timeout"):
            self.recycleReason = why
        self.killed = True
        self._event("killed", "worker {workerId} killed ({why}): pid {pid}", LogLevel.warn, why=why)
        try:
            self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            self.killed = False

    # Describing

    @property
    def becameReady(self) -> bool:
        """Whether the worker ever reported ready."""
        return self.readyAt is not None

    def ttlLeft(self, now: float) -> float | None:
        """Seconds until the TTL expires, or L{None} if no TTL is counting down."""
        call = self._timers.get("ttl")
        return None if call is None else max(0.0, call.getTime() - now)

    def exitDescription(self) -> str:
        """C{"exit code N"} or C{"signal N"}, and the reported failure if any."""
        if self.exitSignal is not None:
            description = f"signal {self.exitSignal}"
        else:
            description = f"exit code {self.exitCode}"
        if self.failure:
            description += f": {self.failure}"
        return description

    # Internals

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
        silence = self._timers.get("silence")
        if silence is not None and self.limits.timeout is not None:
            silence.reset(self.limits.timeout)
        kind = message["kind"]
        if kind == "status":
            self._status(message)
        elif kind == "ready":
            self._becomeReady()
        elif kind == "failed":
            self.failure = str(message.get("reason"))

    def _status(self, message: dict[str, Any]) -> None:
        try:
            self.served = int(message.get("served", self.served))
            self.inFlight = int(message.get("inFlight", self.inFlight))
        except (TypeError, ValueError):
            return
        limit = self.limits.maxRequests
        if limit is not None and self.served >= limit and self.state is WorkerState.READY:
            self._pool.workerWantsRecycling(self, "max-requests")

    def _becomeReady(self) -> None:
        if self.state is not WorkerState.STARTING:
            return
        self._cancelTimers()
        self.state = WorkerState.READY
        self.readyAt = self._clock.seconds()
        self._event(
            "ready",
            "worker {workerId} ready: pid {pid} in {startup:.3f}s",
            startup=self.readyAt - self.spawnedAt,
        )
        if self.limits.ttl is not None:
            self._arm("ttl", self.limits.ttl, self._pool.workerWantsRecycling, self, "ttl")
        if self.limits.timeout is not None:
            self._arm("silence", self.limits.timeout, self.kill, "timeout")
        self._pool.workerReady(self)

    def _outputLine(self, fd: int, line: bytes) -> None:
        self.log.info(
            "[worker {workerId}] {line}",
            workerId=self.workerId,
            line=line.decode("utf-8", "replace"),
            stream="stdout" if fd == 1 else "stderr",
        )

    def _event(
        self, kind: str, format: str, level: LogLevel = LogLevel.info, **fields: Any
    ) -> None:
        """Log a lifecycle event and tell the pool (which relays it to watchers)."""
        fields = {"event": kind, "workerId": self.workerId, "pid": self.pid, **fields}
        self.log.emit(level, format, **fields)
        self._pool.workerEvent(fields)

    def _arm(self, name: str, delay: float, f: Callable[..., object], *args: object) -> None:
        def fire() -> None:
            del self._timers[name]
            f(*args)

        self._timers[name] = self._clock.callLater(delay, fire)

    def _closePipes(self) -> None:
        for fd in (1, 2, wire.EVENT_FD):
            self.transport.closeChildFD(fd)

    def _cancelTimers(self) -> None:
        timers, self._timers = self._timers, {}
        for call in timers.values():
            if call.active():
                call.cancel()
