# -*- test-case-name: tests.master.test_forked -*-
"""A process transport for a child the master did not spawn itself.

A worker forked by the fork server is re-parented to the master (a child
subreaper, see L{recycler.master.reaping}), and the master made its pipes.
L{ForkedProcess} gives that worker's L{IProcessProtocol} the transport and the
events C{reactor.spawnProcess} gives: it does what
C{twisted.internet.process.Process} does once its child is forked, with the
public L{ProcessReader}, L{ProcessWriter} and L{registerReapProcessHandler}, so
the reactor reaps the worker on SIGCHLD exactly as it reaps a spawned process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IProcessProtocol, IProcessTransport, IPushProducer
from twisted.internet.process import (
    ProcessReader,
    ProcessWriter,
    reapProcessHandlers,
    registerReapProcessHandler,
    unregisterReapProcessHandler,
)
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

NAMED_SIGNALS = ("HUP", "STOP", "INT", "KILL", "TERM")
"""The signal names L{ForkedProcess.signalProcess} accepts, as Twisted's C{Process}."""

_log = Logger()


def exitReason(status: int) -> ProcessDone | ProcessTerminated:
    """Twisted's reason for a wait status: L{ProcessDone} for exit 0, else L{ProcessTerminated}."""
    exitCode = sig = None
    if os.WIFEXITED(status):
        exitCode = os.WEXITSTATUS(status)
    else:
        sig = os.WTERMSIG(status)
    if exitCode or sig:
        return ProcessTerminated(exitCode, sig, status)
    return ProcessDone(status)


def _checkChild(pid: int) -> None:
    """
    Raise L{ChildProcessError} unless C{pid} is a child of this process whose
    status nobody has collected yet (it is left to be reaped: C{WNOWAIT}).
    """
    waitid = getattr(os, "waitid", None)
    if waitid is not None:
        waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)


@implementer(IProcessTransport)
class ForkedProcess:
    """
    The transport of a child process forked by someone else but reaped by us.

    It owns the master's ends of the pipes from the moment it is built and
    closes each as its child fd is lost (as C{Process} does). If the
    constructor raises, nothing was registered and the fds are still the
    caller's.

    @ivar pid: The child's pid; L{None} once it has been reaped. Since only
        this process can reap it, the pid cannot be reused before that.
    @ivar status: The wait status once reaped, else L{None}.
    @ivar proto: The protocol, until C{processEnded} was delivered.
    @ivar pipes: The open pipes, by child fd.
    """

    def __init__(
        self,
        reactor: Any,
        protocol: IProcessProtocol,
        pid: int,
        pipes: Mapping[int, tuple[int, str]],
    ) -> None:
        """
        @param reactor: An C{IReactorFDSet} and C{IReactorTime} (the pipes' reactor).
        @param pid: A child of this process (it may have exited already).
        @param pipes: The child's fd -> (the master's end of that pipe, C{"r"}
            if the master reads it, C{"w"} if it writes it).
        @raise ChildProcessError: C{pid} is not our child (e.g. the fork
            server's intermediate process has not been reaped yet).
        @raise RuntimeError: C{pid} already has a reap handler.
        @raise ValueError: a direction is neither C{"r"} nor C{"w"}, or C{pid} is not positive.
        """
        bad = {fd: d for fd, (_, d) in pipes.items() if d not in ("r", "w")}
        if bad:
            raise ValueError(f"pipe directions must be 'r' or 'w': {bad}")
        if pid <= 0:
            raise ValueError(f"not a process id: {pid}")  # os.kill would signal a group
        if pid in reapProcessHandlers:
            raise RuntimeError(f"pid {pid} already has a reap handler")
        _checkChild(pid)
        self.pid: int | None = pid
        self.status: int | None = None
        self.proto: IProcessProtocol | None = protocol
        self.pipes: dict[int, ProcessReader | ProcessWriter] = {}
        self._statusLost = False
        for childFD, (fd, direction) in sorted(pipes.items()):
            if direction == "r":
                self.pipes[childFD] = ProcessReader(reactor, self, childFD, fd)
            else:
                self.pipes[childFD] = ProcessWriter(reactor, self, childFD, fd, forceReadHack=True)
        with _log.failuresHandled("while calling makeConnection:"):
            protocol.makeConnection(self)
        # May call processEnded at once if the child is already a zombie.
        registerReapProcessHandler(pid, self)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} pid={self.pid} status={self.status}>"

    # Reaping (what registerReapProcessHandler and reapAllProcesses call)

    def reapProcess(self) -> None:
        """Collect the child's status if it has exited (the reactor calls this on SIGCHLD)."""
        if self.pid is None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            if not self._statusLost:
                self._statusLost = True
                _log.error("pid {pid} is no longer our child: its status is lost", pid=self.pid)
            return
        except OSError:
            _log.failure("Failed to reap {pid}:", pid=self.pid)
            return
        if pid:
            unregisterReapProcessHandler(pid, self)
            self.processEnded(status)

    def processEnded(self, status: int) -> None:
        """The child was reaped: C{processExited} now, C{processEnded} once the pipes are closed."""
        self.status = status
        self.pid = None
        if self.proto is not None:
            with _log.failuresHandled("while calling processExited:"):
                self.proto.processExited(Failure(exitReason(status)))
        self.maybeCallProcessEnded()

    def maybeCallProcessEnded(self) -> None:
        """Deliver C{processEnded} once the child is reaped and every pipe is closed."""
        if self.pipes:
            return
        if self.status is None:
            self.reapProcess()
            return
        proto, self.proto = self.proto, None
        if proto is not None:
            with _log.failuresHandled("while calling processEnded:"):
                proto.processEnded(Failure(exitReason(self.status)))

    # What the pipes call

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if self.proto is not None:
            self.proto.childDataReceived(childFD, data)

    def childConnectionLost(self, childFD: int, reason: Failure) -> None:
        """A pipe reached EOF or was closed: close our end and tell the protocol."""
        os.close(self.pipes.pop(childFD).fileno())
        if self.proto is not None:
            with _log.failuresHandled("while calling childConnectionLost:"):
                self.proto.childConnectionLost(childFD)
        self.maybeCallProcessEnded()

    # IProcessTransport

    def signalProcess(self, signalID: str | int) -> None:
        """
        Send a signal (C{"HUP"}, C{"STOP"}, C{"INT"}, C{"KILL"}, C{"TERM"} or a number).

        @raise ProcessExitedAlready: the child has been reaped.
        """
        number = getattr(signal, f"SIG{signalID}") if signalID in NAMED_SIGNALS else signalID
        if self.pid is None:
            raise ProcessExitedAlready()
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            raise ProcessExitedAlready() from None

    def writeToChild(self, childFD: int, data: bytes) -> None:
        """Write to one of the child's fds. @raise KeyError: no such open pipe."""
        self.pipes[childFD].write(data)

    def closeChildFD(self, childFD: int) -> None:
        """Close our end of a pipe (after writing what is buffered); nothing if closed."""
        if childFD in self.pipes:
            self.pipes[childFD].loseConnection()

    def closeStdin(self) -> None:
        self.closeChildFD(0)

    def closeStdout(self) -> None:
        self.closeChildFD(1)

    def closeStderr(self) -> None:
        self.closeChildFD(2)

    def loseConnection(self) -> None:
        self.closeStdin()
        self.closeStderr()
        self.closeStdout()

    def write(self, data: bytes) -> None:
        """Write to the child's stdin; silently dropped if fd 0 is not an open pipe."""
        if 0 in self.pipes:
            self.pipes[0].write(data)

    def writeSequence(self, seq: Sequence[bytes]) -> None:
        """Write to the child's stdin; silently dropped if fd 0 is not an open pipe."""
        if 0 in self.pipes:
            self.pipes[0].writeSequence(seq)

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        """Register a producer for stdin; without stdin it is stopped at once."""
        if 0 in self.pipes:
            self.pipes[0].registerProducer(producer, streaming)
        else:
            producer.stopProducing()

    def unregisterProducer(self) -> None:
        if 0 in self.pipes:
            self.pipes[0].unregisterProducer()

    def pauseProducing(self) -> None:
        """Stop reading the child's output pipes."""
        for pipe in self.pipes.values():
            if isinstance(pipe, ProcessReader):
                pipe.stopReading()

    def resumeProducing(self) -> None:
        for pipe in self.pipes.values():
            if isinstance(pipe, ProcessReader):
                pipe.startReading()

    def getHost(self) -> Any:
        raise NotImplementedError()

    def getPeer(self) -> Any:
        raise NotImplementedError()
