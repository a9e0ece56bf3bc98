# -*- test-case-name: tests.master.test_pool -*-
"""Test doubles for code that drives worker processes: a fake process reactor.

Shipped with the package (like treq's C{StubTreq}) so that code built on
L{recycler.master.pool.WorkerPool} can be tested in milliseconds, without processes.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IProcessProtocol, IProcessTransport, IReactorProcess
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from zope.interface import implementer

from recycler import wire


@implementer(IProcessTransport)
class FakeProcess:
    """
    A process that never ran: records what the master does to it, and lets a
    test play the worker's part (L{send}, L{exit}).

    @ivar written: Bytes the master wrote, by child fd.
    @ivar closedFDs: Child fds the master closed.
    @ivar signals: Signals sent, by name (C{"KILL"}).
    """

    def __init__(
        self,
        protocol: IProcessProtocol,
        pid: int,
        executable: str,
        args: Sequence[str],
        env: Mapping[str, str],
        childFDs: Mapping[int, int | str],
    ) -> None:
        self.protocol = protocol
        self.pid: int | None = pid
        self.executable = executable
        self.args = list(args)
        self.env = dict(env)
        self.childFDs = dict(childFDs)
        self.written: dict[int, bytes] = {}
        self.closedFDs: list[int] = []
        self.signals: list[str] = []
        self.ended = False

    # IProcessTransport

    def writeToChild(self, childFD: int, data: bytes) -> None:
        self.written[childFD] = self.written.get(childFD, b"") + data

    def closeChildFD(self, childFD: int) -> None:
        self.closedFDs.append(childFD)

    def signalProcess(self, signalID: str | int) -> None:
        if self.ended:
            raise ProcessExitedAlready()
        self.signals.append(
            signal.Signals(signalID).name[3:] if isinstance(signalID, int) else signalID
        )
        if signalID == "KILL":
            self.exit(signal=signal.SIGKILL)

    def closeStdin(self) -> None:
        self.closeChildFD(0)

    def closeStdout(self) -> None:
        self.closeChildFD(1)

    def closeStderr(self) -> None:
        self.closeChildFD(2)

    def loseConnection(self) -> None:
        for fd in (0, 1, 2):
            self.closeChildFD(fd)

    def write(self, data: bytes) -> None:
        self.writeToChild(0, data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self.write(b"".join(data))

    def getPeer(self) -> Any:
        return None

    def getHost(self) -> Any:
        return None

    # Playing the worker

    def commands(self) -> list[str]:
        """The kinds of the control messages the master sent, in order."""
        lines = self.written.get(wire.COMMAND_FD, b"").splitlines()
        return [wire.decode(line)["kind"] for line in lines]

    def send(self, kind: str, **fields: object) -> None:
        """The worker writes one event to the master."""
        self.protocol.childDataReceived(wire.EVENT_FD, wire.encode(kind, **fields))

    def output(self, data: bytes, fd: int = 1) -> None:
        """The worker writes to its stdout (1) or stderr (2)."""
        self.protocol.childDataReceived(fd, data)

    def exit(self, code: int = 0, signal: int | None = None) -> None:
        """The process ends, with an exit code or killed by a signal."""
        if self.ended:
            raise ProcessExitedAlready()
        self.ended = True
        self.pid = None
        if signal is not None:
            reason: Exception = ProcessTerminated(exitCode=None, signal=signal)
        elif code == 0:
            reason = ProcessDone(0)
        else:
            reason = ProcessTerminated(exitCode=code)
        self.protocol.processExited(Failure(reason))
        self.protocol.processEnded(Failure(reason))


@implementer(IReactorProcess)
class FakeProcessReactor(MemoryReactorClock):
    """
    A reactor whose C{spawnProcess} creates L{FakeProcess}es, with a
    controllable clock.

    @ivar processes: Every process spawned, in order.
    @ivar spawnError: If set, the next C{spawnProcess} calls raise it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[FakeProcess] = []
        self.spawnError: OSError | None = None
        self._pids = itertools.count(1000)

    def spawnProcess(
        self,
        processProtocol: IProcessProtocol,
        executable: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        path: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,
        childFDs: Mapping[int, int | str] | None = None,
    ) -> FakeProcess:
        if self.spawnError is not None:
            raise self.spawnError
        process = FakeProcess(
            processProtocol, next(self._pids), executable, args, env or {}, childFDs or {}
        )
        self.processes.append(process)
        processProtocol.makeConnection(process)
        return process

    def alive(self) -> list[FakeProcess]:
        """Processes that have not ended."""
        return [p for p in self.processes if not p.ended]
