"""The master's view of one worker process: a ProcessProtocol that owns its timers.

A L{WorkerProcess} arms the worker's time-to-live once the worker reports ready,
asks it to drain over the control pipe, arms the SIGKILL deadline, relays its
stdout/stderr into the master's log, and cancels every pending call when the
process ends, so no signal can ever reach a recycled pid.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol as TypingProtocol

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler import messages


class WorkerState(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    EXITED = "exited"


class PoolCallbacks(TypingProtocol):
    """What a L{WorkerProcess} tells its pool."""

    def workerReady(self, worker: WorkerProcess) -> None: ...

    def workerExpired(self, worker: WorkerProcess) -> None: ...

    def workerEnded(self, worker: WorkerProcess) -> None: ...


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
    @ivar ttl: Lifetime in seconds, drawn at spawn; L{None} means no TTL.
    @ivar grace: Seconds a draining worker has before it is killed with SIGKILL.
    @ivar state: The current L{WorkerState}.
    @ivar served: Requests completed, as last reported by the worker.
    @ivar inFlight: Requests in progress, as last reported by the worker.
    @ivar exitCode: Exit status once ended (L{None} if killed by a signal).
    @ivar exitSignal: Signal number that ended it, if any.
    @ivar drainReason: Why the master asked it to drain (C{"ttl"}, C{"stop"}, ...).
    @ivar failure: Why the worker could not start, as it reported (e.g. an import error).
    """

    log = Logger()

    def __init__(
        self,
        workerId: int,
        clock: IReactorTime,
        pool: PoolCallbacks,
        ttl: float | None,
        grace: float,
    ) -> None:
        self.workerId = workerId
        self.ttl = ttl
        self.grace = grace
        self.state = WorkerState.STARTING
        self.pid: int | None = None
        self.served = 0
        self.inFlight = 0
        self.exitCode: int | None = None
        self.exitSignal: int | None = None
        self.drainReason: str | None = None
        self.failure: str | None = None
        self._clock = clock
        self._pool = pool
        self.spawnedAt = clock.seconds()
        self.readyAt: float | None = None
        self._ttlCall: IDelayedCall | None = None
        self._killCall: IDelayedCall | None = None
        self._events = _LineSplitter(self._eventLine)
        self._output = {
            fd: _LineSplitter(lambda line, fd=fd: self._outputLine(fd, line)) for fd in (1, 2)
        }

    # ProcessProtocol

    def connectionMade(self) -> None:
        self.pid = self.transport.pid
        self.log.info(
            "worker {workerId} born: pid {pid}, ttl {ttl}",
            workerId=self.workerId,
            pid=self.pid,
            ttl="off" if self.ttl is None else f"{self.ttl:.3f}s",
            event="born",
            ttlSeconds=self.ttl,
        )

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == messages.EVENT_FD:
            self._events.dataReceived(data)
        elif childFD in self._output:
            self._output[childFD].dataReceived(data)

    def processEnded(self, reason: Failure) -> None:
        for splitter in self._output.values():
            splitter.flush()
        self._cancelTimers()
        self.state = WorkerState.EXITED
        if reason.check(ProcessDone, ProcessTerminated):
            self.exitCode = reason.value.exitCode
            self.exitSignal = reason.value.signal
        self.log.info(
            "worker {workerId} exited: pid {pid}, {status}, served {served}",
            workerId=self.workerId,
            pid=self.pid,
            status=self.exitDescription(),
            served=self.served,
            exitCode=self.exitCode,
            exitSignal=self.exitSignal,
            event="exited",
        )
        self._pool.workerEnded(self)

    # Commands from the pool

    def drain(self, reason: str) -> None:
        """
        Ask the worker to stop accepting, finish what it has and exit; SIGKILL
        it if it is still alive after C{grace} seconds. Idempotent.
        """
        if self.state not in (WorkerState.STARTING, WorkerState.READY):
            return
        self.state = WorkerState.DRAINING
        self.drainReason = reason
        self._cancelTimers()
        self.log.info(
            "worker {workerId} draining ({reason}): pid {pid}, in flight {inFlight}",
            workerId=self.workerId,
            reason=reason,
            pid=self.pid,
            inFlight=self.inFlight,
            event="draining",
        )
        self.transport.writeToChild(messages.COMMAND_FD, messages.encode("drain"))
        self._killCall = self._clock.callLater(self.grace, self.kill, "grace expired")

    def kill(self, why: str) -> None:
        """SIGKILL the worker now, unless it has already gone."""
        self._killCall = None
        if self.state is WorkerState.EXITED:
            return
        self.log.warn(
            "worker {workerId} killed ({why}): pid {pid}",
            workerId=self.workerId,
            why=why,
            pid=self.pid,
            event="killed",
        )
        try:
            self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    # Describing

    @property
    def becameReady(self) -> bool:
        """Whether the worker ever reported ready."""
        return self.readyAt is not None

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
            message = messages.decode(line)
        except ValueError:
            self.log.warn(
                "worker {workerId} sent a malformed control line: {line!r}",
                workerId=self.workerId,
                line=line[:200],
            )
            return
        kind = message["kind"]
        if kind == "status":
            self.served = int(message.get("served", self.served))
            self.inFlight = int(message.get("inFlight", self.inFlight))
        elif kind == "ready":
            self._becomeReady()
        elif kind == "failed":
            self.failure = str(message.get("reason"))

    def _becomeReady(self) -> None:
        if self.state is not WorkerState.STARTING:
            return
        self.state = WorkerState.READY
        self.readyAt = self._clock.seconds()
        self.log.info(
            "worker {workerId} ready: pid {pid} in {startup:.3f}s",
            workerId=self.workerId,
            pid=self.pid,
            startup=self.readyAt - self.spawnedAt,
            event="ready",
        )
        if self.ttl is not None:
            self._ttlCall = self._clock.callLater(self.ttl, self._expire)
        self._pool.workerReady(self)

    def _expire(self) -> None:
        self._ttlCall = None
        self._pool.workerExpired(self)

    def _outputLine(self, fd: int, line: bytes) -> None:
        self.log.info(
            "[worker {workerId}] {line}",
            workerId=self.workerId,
            line=line.decode("utf-8", "replace"),
            stream="stdout" if fd == 1 else "stderr",
        )

    def _cancelTimers(self) -> None:
        for call in (self._ttlCall, self._killCall):
            if call is not None and call.active():
                call.cancel()
        self._ttlCall = self._killCall = None
