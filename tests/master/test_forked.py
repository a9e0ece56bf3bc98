"""
Tests of L{recycler.master.forked}: real children, real pipes, a memory reactor.

Each child is made with C{os.fork()} here (so it is the test's own child, as a
re-parented worker is the master's), and the test plays the event loop: it
selects on what the transport asked the reactor to watch, and reaps the child
as the reactor's SIGCHLD handler would. Nothing needs the global reactor, so
the tests run in any order with the end-to-end ones. One scenario runs under a
real reactor, in a subprocess that is a child subreaper.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet import process
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from recycler.master.forked import ForkedProcess, exitReason
from tests.processes import waitForZombie

DEADLINE = 10.0
"""Seconds a test waits for a child before it fails."""

HIGH_FD = 200
"""Where a child parks its pipe ends before moving them onto their fd numbers."""

RESET_SIGNALS = {signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
"""Signals a child handles the default way (the test runner may handle them)."""

WORKER_FDS = {0: "w", 1: "r", 2: "r", 3: "w", 4: "r"}
"""A worker's pipes as the master sees them (C{w}: the master writes)."""


def makePipes(spec: Mapping[int, str]) -> tuple[dict[int, int], dict[int, tuple[int, str]]]:
    """Pipes for a child: the child's ends by its fd, and the master's (fd, direction)."""
    childEnds: dict[int, int] = {}
    masterEnds: dict[int, tuple[int, str]] = {}
    for childFD, direction in spec.items():
        readFD, writeFD = os.pipe()
        if direction == "r":
            childEnds[childFD], masterEnds[childFD] = writeFD, (readFD, "r")
        else:
            childEnds[childFD], masterEnds[childFD] = readFD, (writeFD, "w")
    return childEnds, masterEnds


def _setUpChild(fds: Mapping[int, int]) -> None:
    """In a forked child: default signals, exactly C{fds} on their numbers, /dev/null on 0-2."""
    signal.set_wakeup_fd(-1)
    for signum in RESET_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    parked = {childFD: fcntl.fcntl(fd, fcntl.F_DUPFD, HIGH_FD) for childFD, fd in fds.items()}
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in parked.values():
            try:
                os.close(int(name))
            except OSError:
                pass
    for childFD, fd in parked.items():
        os.dup2(fd, childFD)
        os.close(fd)
    for fd in range(3):
        if fd not in fds:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def fork(fds: Mapping[int, int], body: Callable[[], int] | list[str]) -> int:
    """
    Fork a child that has C{fds[n]} as its fd C{n} and nothing else, and runs
    C{body} (its return value is the exit code) or execs the argv C{body}.

    Signals stay blocked until the child has reset their handlers: a SIGTERM
    sent at once must kill it, not run this process's handler (under pytest,
    the running reactor's) in the child.
    """
    collecting = gc.isenabled()
    gc.disable()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, RESET_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            code: object = 70
            try:
                _setUpChild(fds)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                if isinstance(body, list):
                    os.execv(body[0], body)
                code = body()
            finally:
                os._exit(code if type(code) is int else 70)  # never return into the runner
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if collecting:
            gc.enable()
    return pid


def readUntilEOF(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def idle() -> int:
    """A child's body: wait for EOF on the command pipe (fd 3), exit 0."""
    readUntilEOF(3)
    return 0


def describe(reason: Failure) -> tuple[str, int | None, int | None]:
    return (type(reason.value).__name__, reason.value.exitCode, reason.value.signal)


class Recorder(ProcessProtocol):
    """Writes down every event, in order; data as C{("data", fd, bytes)}."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.received: dict[int, bytes] = {}
        self.exited: Failure | None = None
        self.ended: Failure | None = None

    def connectionMade(self) -> None:
        self.events.append(("connectionMade", self.transport.pid))

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.events.append(("data", childFD, data))
        self.received[childFD] = self.received.get(childFD, b"") + data

    def childConnectionLost(self, childFD: int) -> None:
        self.events.append(("childConnectionLost", childFD))

    def processExited(self, reason: Failure) -> None:
        self.exited = reason
        self.events.append(("processExited", *describe(reason)))

    def processEnded(self, reason: Failure) -> None:
        self.ended = reason
        self.events.append(("processEnded", *describe(reason)))

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events if event[0] != "data"]


class ChildTestCase(SynchronousTestCase):
    """Forks children that are always killed and reaped, and plays the event loop."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.addCleanup(self._closeLeftoverPipes)

    def _closeLeftoverPipes(self) -> None:
        """Close the master's ends that a failed test left open."""
        for descriptor in self.reactor.removeAll():
            if descriptor.connected:
                os.close(descriptor.fileno())

    def closer(self, fd: int) -> Callable[[], None]:
        """Close C{fd} when the returned function is called, or after the test."""
        open_ = [fd]

        def close() -> None:
            while open_:
                os.close(open_.pop())

        self.addCleanup(close)
        return close

    def child(
        self, body: Callable[[], int] | list[str], spec: Mapping[int, str] = WORKER_FDS
    ) -> tuple[int, dict[int, tuple[int, str]]]:
        """A child with pipes as in C{spec}; return its pid and the master's ends."""
        childEnds, masterEnds = makePipes(spec)
        try:
            pid = fork(childEnds, body)
        finally:
            for fd in childEnds.values():
                os.close(fd)
        self.addCleanup(self._bury, pid)
        return pid, masterEnds

    def _bury(self, pid: int) -> None:
        """Kill and reap the child unless it was reaped; unregister it."""
        handler = process.reapProcessHandlers.pop(pid, None)
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            self.assertIsNone(handler, "a reaped child was still registered")
            return  # reaped already: its pid may belong to someone else now
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def transport(
        self, pid: int, pipes: Mapping[int, tuple[int, str]], protocol: Recorder | None = None
    ) -> tuple[ForkedProcess, Recorder]:
        protocol = protocol or Recorder()
        return ForkedProcess(self.reactor, protocol, pid, pipes), protocol

    def pump(self, until: Callable[[], bool], reap: Any = None) -> None:
        """
        Run the pipes' I/O (and reap C{reap} as SIGCHLD would, if given) until
        C{until()} is true.
        """
        deadline = time.monotonic() + DEADLINE
        while not until():
            if time.monotonic() > deadline:
                self.fail("timed out")
            self.reactor.advance(0)
            readers, writers = self.reactor.getReaders(), self.reactor.getWriters()
            readable, writable, _ = select.select(readers, writers, [], 0.005)
            for ready, live, method in (
                (readable, self.reactor.readers, "doRead"),
                (writable, self.reactor.writers, "doWrite"),
            ):
                for descriptor in ready:
                    if descriptor in live:
                        why = getattr(descriptor, method)()
                        if why:
                            descriptor.connectionLost(Failure(why))
            if reap is not None and reap.pid is not None:
                reap.reapProcess()
            self.reactor.advance(0)


class ExitStatusTests(ChildTestCase):
    """The true exit status reaches processExited and processEnded, as from spawnProcess."""

    def run_(self, code: int) -> Recorder:
        """A child that exits with C{code} once the master closes its command pipe."""
        pid, pipes = self.child(lambda: len(readUntilEOF(3)) + code)
        transport, protocol = self.transport(pid, pipes)
        self.assertIs(process.reapProcessHandlers[pid], transport)
        transport.closeChildFD(3)
        transport.closeStdin()
        self.pump(lambda: protocol.ended is not None, reap=transport)
        self.assertNotIn(pid, process.reapProcessHandlers)
        self.assertIsNone(transport.pid)
        self.assertEqual(protocol.kinds()[0], "connectionMade")
        self.assertEqual(protocol.kinds()[-1], "processEnded")
        self.assertEqual(protocol.kinds().count("processExited"), 1)
        self.assertEqual(protocol.exited.value.status, transport.status)
        return protocol

    def test_exitZero(self) -> None:
        """Exit 0: ProcessDone at both."""
        protocol = self.run_(0)
        self.assertEqual(describe(protocol.exited), ("ProcessDone", 0, None))
        self.assertEqual(describe(protocol.ended), ("ProcessDone", 0, None))
        self.assertIsNot(protocol.exited, protocol.ended)

    def test_exitCode(self) -> None:
        """Exit 3: ProcessTerminated with exitCode 3 and no signal."""
        protocol = self.run_(3)
        self.assertEqual(describe(protocol.exited), ("ProcessTerminated", 3, None))
        self.assertEqual(describe(protocol.ended), ("ProcessTerminated", 3, None))

    def test_killed(self) -> None:
        """signalProcess("KILL"): ProcessTerminated with signal 9 and no exit code."""
        pid, pipes = self.child(idle)
        transport, protocol = self.transport(pid, pipes)
        transport.signalProcess("KILL")
        self.pump(lambda: protocol.ended is not None, reap=transport)
        self.assertEqual(describe(protocol.exited), ("ProcessTerminated", None, signal.SIGKILL))
        self.assertEqual(describe(protocol.ended), ("ProcessTerminated", None, signal.SIGKILL))

    def test_signalNamesAndNumbers(self) -> None:
        """A name is translated (C{"TERM"}); a number is passed as it is."""
        for signalID, number in (("TERM", signal.SIGTERM), (int(signal.SIGHUP), signal.SIGHUP)):
            pid, pipes = self.child(idle)
            transport, protocol = self.transport(pid, pipes)
            transport.signalProcess(signalID)
            self.pump(lambda p=protocol: p.ended is not None, reap=transport)
            self.assertEqual(describe(protocol.exited), ("ProcessTerminated", None, number))

    def test_noSignalAfterReaping(self) -> None:
        """Once reaped, signalProcess raises ProcessExitedAlready and never calls os.kill."""
        release = os.pipe()
        letGo = self.closer(release[1])
        pid = fork({0: release[0]}, lambda: len(readUntilEOF(0)))
        os.close(release[0])
        self.addCleanup(self._bury, pid)
        transport, protocol = self.transport(pid, {})
        self.assertIs(process.reapProcessHandlers[pid], transport)
        letGo()
        waitForZombie(pid, DEADLINE)
        kills: list[tuple[int, int]] = []
        self.patch(os, "kill", lambda *args: kills.append(args))
        transport.signalProcess(0)  # a zombie can still be signalled: its pid is ours
        self.assertEqual(kills, [(pid, 0)])
        transport.reapProcess()
        self.assertIsNotNone(protocol.ended)
        for signalID in ("KILL", "TERM", 9):
            self.assertRaises(ProcessExitedAlready, transport.signalProcess, signalID)
        self.assertEqual(kills, [(pid, 0)])

    def test_exitReason(self) -> None:
        """The wait status is read as Twisted's own process transport reads it."""
        self.assertIsInstance(exitReason(0), ProcessDone)
        terminated = exitReason(3 << 8)
        self.assertIsInstance(terminated, ProcessTerminated)
        self.assertEqual((terminated.exitCode, terminated.signal), (3, None))
        self.assertEqual((exitReason(9).exitCode, exitReason(9).signal), (None, 9))


class PipeTests(ChildTestCase):
    """Data in and out, EOF, closing, and when processEnded comes."""

    def test_outputReachesItsFD(self) -> None:
        """stdout, stderr and the event pipe each reach childDataReceived with their fd."""

        def body() -> int:
            os.write(1, b"out")
            os.write(2, b"err")
            os.write(4, b'{"kind":"ready"}\n')
            return 0

        pid, pipes = self.child(body)
        transport, protocol = self.transport(pid, pipes)
        self.pump(lambda: protocol.ended is not None, reap=transport)
        self.assertEqual(protocol.received, {1: b"out", 2: b"err", 4: b'{"kind":"ready"}\n'})
        lost = [
            fd for kind, *rest in protocol.events if kind == "childConnectionLost" for fd in rest
        ]
        self.assertEqual(sorted(lost), [0, 1, 2, 3, 4])

    def test_writeToChild(self) -> None:
        """What the master writes to fd 3 (and to stdin) reaches the child; EOF follows a close."""

        def body() -> int:
            os.write(1, b"3:" + readUntilEOF(3) + b" 0:" + readUntilEOF(0))
            return 0

        pid, pipes = self.child(body)
        transport, protocol = self.transport(pid, pipes)
        transport.writeToChild(3, b'{"kind":"drain"}\n')
        transport.closeChildFD(3)
        transport.write(b"a")
        transport.writeSequence([b"b", b"c"])
        transport.closeStdin()
        self.pump(lambda: protocol.ended is not None, reap=transport)
        self.assertEqual(protocol.received[1], b'3:{"kind":"drain"}\n 0:abc')

    def test_closeChildFD(self) -> None:
        """closeChildFD closes the master's end: the child's next write fails with EPIPE."""

        def body() -> int:
            readUntilEOF(3)
            try:
                os.write(1, b"anyone?")
            except BrokenPipeError:
                return 7
            return 0

        pid, pipes = self.child(body)
        transport, protocol = self.transport(pid, pipes)
        stdout = pipes[1][0]
        transport.closeChildFD(1)
        self.pump(lambda: 1 not in transport.pipes)
        self.assertIn(("childConnectionLost", 1), protocol.events)
        self.assertRaises(OSError, os.fstat, stdout)
        transport.closeChildFD(1)  # closed already: nothing happens
        transport.closeChildFD(3)
        self.pump(lambda: protocol.ended is not None, reap=transport)
        self.assertEqual(describe(protocol.ended), ("ProcessTerminated", 7, None))
        self.assertNotIn(1, protocol.received)

    def test_loseConnection(self) -> None:
        """loseConnection closes stdin, stderr and stdout, as Twisted's Process does."""
        pid, pipes = self.child(idle)
        transport, protocol = self.transport(pid, pipes)
        transport.loseConnection()
        self.pump(lambda: set(transport.pipes) == {3, 4})
        self.assertEqual(
            sorted(e for e in protocol.events if e[0] == "childConnectionLost"),
            [("childConnectionLost", 0), ("childConnectionLost", 1), ("childConnectionLost", 2)],
        )
        transport.closeChildFD(3)
        self.pump(lambda: protocol.ended is not None, reap=transport)

    def test_processEndedWaitsForEveryPipe(self) -> None:
        """
        Another process holding stdout (a worker's subprocess) delays
        processEnded, never processExited; output after the exit is delivered.
        """
        release = os.pipe()
        letGo = self.closer(release[1])
        childEnds, pipes = makePipes({1: "r"})

        def holder() -> int:
            readUntilEOF(0)
            os.write(1, b"late")
            return 0

        holderPid = fork({0: release[0], 1: childEnds[1]}, holder)
        self.addCleanup(self._bury, holderPid)
        os.close(release[0])
        pid = fork(childEnds, lambda: 0)
        os.close(childEnds[1])
        self.addCleanup(self._bury, pid)
        transport, protocol = self.transport(pid, pipes)
        if transport.pid is not None:  # else it was reaped as it was registered
            waitForZombie(pid, DEADLINE)
            transport.reapProcess()
        self.assertEqual(protocol.kinds(), ["connectionMade", "processExited"])
        later = time.monotonic() + 0.1
        self.pump(lambda: time.monotonic() > later)
        self.assertIsNone(protocol.ended)
        self.assertEqual(list(transport.pipes), [1])
        letGo()
        self.pump(lambda: protocol.ended is not None)
        self.assertEqual(
            protocol.events[1:],
            [
                ("processExited", "ProcessDone", 0, None),
                ("data", 1, b"late"),
                ("childConnectionLost", 1),
                ("processEnded", "ProcessDone", 0, None),
            ],
        )
        os.waitpid(holderPid, 0)


class ConstructionTests(ChildTestCase):
    """What building the transport does, and refuses."""

    def test_providesIProcessTransport(self) -> None:
        """The whole interface, and Twisted's Process answers for getHost/getPeer."""
        pid, pipes = self.child(idle)
        transport, protocol = self.transport(pid, pipes)
        self.assertTrue(verifyObject(IProcessTransport, transport))
        self.assertIs(protocol.transport, transport)
        self.assertEqual(protocol.events, [("connectionMade", pid)])
        self.assertRaises(NotImplementedError, transport.getHost)
        self.assertRaises(NotImplementedError, transport.getPeer)
        self.assertEqual(repr(transport), f"<ForkedProcess pid={pid} status=None>")
        transport.signalProcess("KILL")
        self.pump(lambda: protocol.ended is not None, reap=transport)

    def test_alreadyExited(self) -> None:
        """
        A child dead before the transport exists: registerReapProcessHandler
        reaps it at once, so processExited comes during construction (after
        connectionMade), and processEnded once its output is read.
        """

        def body() -> int:
            os.write(1, b"bye")
            return 4

        pid, pipes = self.child(body, spec={1: "r"})
        waitForZombie(pid, DEADLINE)
        transport, protocol = self.transport(pid, pipes)
        self.assertEqual(
            protocol.events,
            [("connectionMade", pid), ("processExited", "ProcessTerminated", 4, None)],
        )
        self.assertNotIn(pid, process.reapProcessHandlers)
        self.assertRaises(ProcessExitedAlready, transport.signalProcess, "KILL")
        self.pump(lambda: protocol.ended is not None)
        self.assertEqual(protocol.received, {1: b"bye"})
        self.assertEqual(protocol.kinds()[-2:], ["childConnectionLost", "processEnded"])

    def test_alreadyExitedWithoutPipes(self) -> None:
        """With no pipe at all, processEnded comes during construction too."""
        pid, _ = self.child(lambda: 0, spec={})
        waitForZombie(pid, DEADLINE)
        _, protocol = self.transport(pid, {})
        self.assertEqual(protocol.kinds(), ["connectionMade", "processExited", "processEnded"])

    def test_notOurChild(self) -> None:
        """A pid that is not our child is refused before anything is registered or wrapped."""
        childEnds, pipes = makePipes({1: "r"})
        self.addCleanup(lambda: [os.close(fd) for fd in (childEnds[1], pipes[1][0])])
        protocol = Recorder()
        self.assertRaises(ChildProcessError, ForkedProcess, self.reactor, protocol, 1, pipes)
        self.assertNotIn(1, process.reapProcessHandlers)
        self.assertEqual((protocol.events, self.reactor.getReaders()), ([], []))
        self.assertTrue(os.get_blocking(pipes[1][0]))

    def test_refusals(self) -> None:
        """A direction other than r/w, a pid <= 0 or one registered already: refused up front."""
        pid, pipes = self.child(idle)
        bad = {**pipes, 1: (pipes[1][0], "x")}
        self.assertRaises(ValueError, ForkedProcess, self.reactor, Recorder(), pid, bad)
        for notAPid in (0, -1, -pid):
            self.assertRaises(ValueError, ForkedProcess, self.reactor, Recorder(), notAPid, {})
        transport, protocol = self.transport(pid, pipes)
        second = Recorder()
        self.assertRaises(RuntimeError, ForkedProcess, self.reactor, second, pid, {})
        self.assertEqual(second.events, [])
        self.assertIs(process.reapProcessHandlers[pid], transport)
        transport.signalProcess("KILL")
        self.pump(lambda: protocol.ended is not None, reap=transport)

    def test_protocolErrorsAreLogged(self) -> None:
        """A protocol that raises in processExited still gets processEnded; the error is logged."""

        class Raising(Recorder):
            def processExited(self, reason: Failure) -> None:
                super().processExited(reason)
                raise RuntimeError("oops")

        pid, _ = self.child(lambda: 0, spec={})
        waitForZombie(pid, DEADLINE)
        _, protocol = self.transport(pid, {}, Raising())
        self.assertEqual(protocol.kinds()[-1], "processEnded")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


PROGRAM = """
import os
os.write(1, b"out"); os.write(2, b"err"); os.write(4, b"event")
command = b""
while chunk := os.read(3, 100):
    command += chunk
os.write(1, b" got " + command + b" stdin " + os.read(0, 100))
os._exit(3)
"""


class SameAsSpawnProcessTests(ChildTestCase):
    """The same program under Twisted's own Process and under ForkedProcess: the same events."""

    def drive(self, transport: Any, protocol: Recorder) -> tuple[Any, ...]:
        transport.writeToChild(3, b"drain")
        transport.closeChildFD(3)
        transport.write(b"in")
        transport.closeStdin()
        self.pump(lambda: protocol.ended is not None, reap=transport)
        kinds = protocol.kinds()
        self.assertEqual((kinds[0], kinds[-1]), ("connectionMade", "processEnded"))
        self.assertLess(kinds.index("processExited"), kinds.index("processEnded"))
        lost = sorted(e[1] for e in protocol.events if e[0] == "childConnectionLost")
        results = [e[1:] for e in protocol.events if e[0].startswith("process")]
        return protocol.received, lost, results

    def test_sameEvents(self) -> None:
        argv = [sys.executable, "-S", "-c", PROGRAM]
        spawned = Recorder()
        twistedProcess = process.Process(
            self.reactor, argv[0], argv, {}, None, spawned, childFDs=dict(WORKER_FDS)
        )
        self.addCleanup(self._bury, twistedProcess.pid)
        expected = self.drive(twistedProcess, spawned)
        pid, pipes = self.child(argv)
        actual = self.drive(*self.transport(pid, pipes))
        self.assertEqual(actual, expected)
        self.assertEqual(
            expected,
            (
                {1: b"out got drain stdin in", 2: b"err", 4: b"event"},
                [0, 1, 2, 3, 4],
                [("ProcessTerminated", 3, None)] * 2,
            ),
        )


SCENARIO = textwrap.dedent(
    """
    import fcntl, json, os
    from recycler.master.reaping import OrphanReaper, becomeSubreaper
    assert becomeSubreaper()
    from twisted.internet import reactor
    from twisted.internet.protocol import ProcessProtocol
    from twisted.logger import globalLogPublisher
    from recycler.master.forked import ForkedProcess

    def makePipes():
        child, master = {}, {}
        for fd, direction in {1: "r", 2: "r", 3: "w", 4: "r"}.items():
            r, w = os.pipe()
            child[fd], master[fd] = (w, (r, "r")) if direction == "r" else (r, (w, "w"))
        return child, master

    childEnds, masterEnds = makePipes()
    release = os.pipe()

    def worker():
        parked = {fd: fcntl.fcntl(end, fcntl.F_DUPFD, 300) for fd, end in childEnds.items()}
        for fd, end in parked.items():
            os.dup2(end, fd)
        for fd in range(3, 400):
            if fd not in (1, 2, 3, 4, release[0]):
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.write(1, b"hello")
        os.write(4, b"ready")
        while os.read(3, 100):
            pass
        grandchild = os.fork()
        if grandchild == 0:
            os.read(release[0], 1)
            os.write(1, b" late")
            os._exit(0)
        os.write(2, b"%d" % grandchild)
        os._exit(3)

    intermediate = os.fork()
    if intermediate == 0:
        if os.fork() == 0:
            try:
                worker()
            finally:
                os._exit(70)
        os._exit(0)
    os.waitpid(intermediate, 0)
    for fd in childEnds.values():
        os.close(fd)
    os.close(release[0])
    workerPid = [c.pid for c in __import__("psutil").Process().children()][0]

    events, orphans = [], []
    globalLogPublisher.addObserver(
        lambda e: orphans.append(e["pid"]) if e.get("log_format", "").startswith("reaped") else 0
    )
    reaper = OrphanReaper(reactor, interval=0.05)

    class Worker(ProcessProtocol):
        def connectionMade(self):
            events.append(["connectionMade", self.transport.pid == workerPid])
        def childDataReceived(self, fd, data):
            events.append(["data", fd, data.decode()])
            if fd == 4:
                self.transport.closeChildFD(3)
        def childConnectionLost(self, fd):
            events.append(["lost", fd])
        def processExited(self, reason):
            events.append(["exited", type(reason.value).__name__, reason.value.exitCode])
            os.write(release[1], b"x")
        def processEnded(self, reason):
            events.append(["ended", type(reason.value).__name__, reason.value.exitCode])
            reactor.callLater(0.5, finish)

    def finish():
        children = [c.pid for c in __import__("psutil").Process().children()]
        print(json.dumps({"events": events, "orphans": orphans, "children": children}))
        reactor.stop()

    ForkedProcess(reactor, Worker(), workerPid, masterEnds)
    reaper.start()
    reactor.callLater(20, reactor.stop)
    reactor.run()
    """
)


class RealReactorTests(SynchronousTestCase):
    """A double-forked worker under a real reactor, in a subprocess that is a subreaper."""

    def test_doubleForkedWorker(self) -> None:
        """
        The re-parented worker is reaped on SIGCHLD with its true status,
        processEnded waits for its subprocess to let go of stdout, and that
        subprocess, orphaned, is reaped by the OrphanReaper: nothing is left.
        """
        result = subprocess.run(
            [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        outcome = json.loads(result.stdout)
        events = outcome["events"]
        grandchild = int("".join(e[2] for e in events if e[:2] == ["data", 2]))
        self.assertEqual(events[0], ["connectionMade", True])
        exited = events.index(["exited", "ProcessTerminated", 3])
        self.assertEqual(events[-1], ["ended", "ProcessTerminated", 3])
        stdout = [e[2] for e in events if e[:2] == ["data", 1]]
        self.assertEqual("".join(stdout), "hello late")
        self.assertGreater(events.index(["data", 1, " late"]), exited)
        self.assertGreater(events.index(["lost", 1]), exited)
        self.assertEqual(outcome["orphans"], [grandchild])
        self.assertEqual(outcome["children"], [])
