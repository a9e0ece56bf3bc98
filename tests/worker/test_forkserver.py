"""Tests of L{recycler.worker.forkserver}: the real fork server, driven without a master.

The test plays the master: it makes the socket pair, the event pipe and a
listening socket, and becomes a child subreaper while each test runs, so the
forked workers are re-parented to it (as to the master), and it reaps them.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from recycler import wire
from recycler.worker.forkserver import EXIT_PRELOAD_FAILED, _ints, parseArgs
from tests.processes import httpGet

TRAMPOLINE = """
import os, signal, sys
for number in (signal.SIGHUP, signal.SIGUSR1):
    signal.signal(number, signal.SIG_IGN)  # inherited through exec: the workers must not be
fds = [int(fd) for fd in sys.argv[1:4]]
for target, fd in zip((3, 4, 5), fds):
    os.dup2(fd, target)
    os.close(fd)
os.execv(sys.executable, [sys.executable, "-m", "recycler.worker.forkserver", *sys.argv[4:]])
"""
"""Puts the socket, the event pipe and the listener at fds 3, 4, 5, then runs the fork server."""

PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


def prctl(option: int, value: Any) -> int:
    call = ctypes.CDLL(None, use_errno=True).prctl
    return call(option, value, 0, 0, 0)


def highFD(fd: int) -> int:
    """A duplicate of C{fd} numbered 10 or more (and closed on exec unless passed)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def readLine(fd: int, timeout: float, buffer: bytearray) -> bytes | None:
    """The next line from C{fd} (L{None} at EOF), keeping what follows in C{buffer}."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise AssertionError(f"no line after {timeout}s; have {bytes(buffer)!r}")
        data = os.read(fd, 4096)
        if not data:
            return None
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def fdTargets(pid: int) -> dict[int, str]:
    """What each open fd of C{pid} is (C{pipe:[N]}, C{socket:[N]}, a path)."""
    targets = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return targets


class Forked:
    """One forked worker, seen from the test: its pid and the master's ends of its pipes."""

    def __init__(self, pid: int, stdout: int, stderr: int, commands: int, events: int) -> None:
        self.pid, self.stdout, self.stderr = pid, stdout, stderr
        self.commands, self.events = commands, events
        self.status: int | None = None
        self._events, self._output = bytearray(), bytearray()

    def event(self, timeout: float = 10) -> dict[str, Any]:
        line = readLine(self.events, timeout, self._events)
        if line is None:
            raise AssertionError(f"worker {self.pid}: its event pipe closed")
        return wire.decode(line)

    def outputLine(self, timeout: float = 10) -> str:
        line = readLine(self.stdout, timeout, self._output)
        if line is None:
            raise AssertionError(f"worker {self.pid}: its stdout closed")
        return line.decode()

    def wait(self, timeout: float = 10) -> int:
        """Reap it (it is our child: we are its subreaper); its exit status."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise AssertionError(f"worker {self.pid} still running after {timeout}s")
            else:
                time.sleep(0.01)
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        for fd in (self.stdout, self.stderr, self.commands, self.events):
            os.close(fd)


class ForkServerProcess:
    """The real fork server on fds 3, 4, 5, and the workers it forked, all cleaned up."""

    def __init__(self, case: SynchronousTestCase, *args: str, env: dict[str, str] | None = None):
        listening = socket.create_server(("127.0.0.1", 0))
        self.port = listening.getsockname()[1]
        self.listenerInode = os.fstat(listening.fileno()).st_ino
        self.requests, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socketInode = os.fstat(theirs.fileno()).st_ino
        self._eventsIn, eventsOut = os.pipe()
        given = [highFD(fd) for fd in (theirs.fileno(), eventsOut, listening.fileno())]
        self.process = subprocess.Popen(
            [sys.executable, "-c", TRAMPOLINE, *map(str, given), "--listeners", "1", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=given,
            env=env,
        )
        for fd in [eventsOut, *given]:
            os.close(fd)
        theirs.close()
        listening.close()
        self.workers: list[Forked] = []
        self._events = bytearray()
        case.addCleanup(self.close)

    def event(self, timeout: float = 20) -> dict[str, Any] | None:
        line = readLine(self._eventsIn, timeout, self._events)
        return None if line is None else wire.decode(line)

    def send(self, message: bytes, fds: list[int]) -> dict[str, Any]:
        """One request with C{fds}; the decoded reply."""
        self.requests.sendmsg(
            [message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        )
        self.requests.settimeout(10)
        return wire.decode(self.requests.recv(wire.MAX_FORK_MESSAGE))

    def fork(self, *argv: str) -> Forked:
        """Fork a worker with C{argv} (C{--listeners 1} added), as the master would."""
        pipes = [os.pipe() for _ in range(4)]
        (outIn, outOut), (errIn, errOut), (commandIn, commandOut), (eventIn, eventOut) = pipes
        theirs = [outOut, errOut, commandIn, eventOut]
        try:
            reply = self.send(
                wire.encode(wire.ForkRequest.FORK, argv=[*argv, "--listeners", "1"]), theirs
            )
        finally:
            for fd in theirs:
                os.close(fd)
        if reply["kind"] != wire.ForkReply.FORKED:
            for fd in (outIn, errIn, commandOut, eventIn):
                os.close(fd)
            raise AssertionError(f"fork failed: {reply}")
        worker = Forked(reply["pid"], outIn, errIn, commandOut, eventIn)
        self.workers.append(worker)
        return worker

    def wait(self) -> tuple[int, str]:
        output, _ = self.process.communicate(timeout=10)
        return self.process.returncode, output.decode(errors="replace")

    def close(self) -> None:
        self.requests.close()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=5)  # it exits on EOF
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.communicate()
        os.close(self._eventsIn)
        for worker in self.workers:
            worker.close()


class ForkServerTestCase(SynchronousTestCase):
    """Each test is a child subreaper while it runs, as the master is."""

    def setUp(self) -> None:
        if not sys.platform.startswith("linux"):
            raise SkipTest("the fork server needs Linux")
        was = ctypes.c_int()
        prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(was))
        self.assertEqual(prctl(PR_SET_CHILD_SUBREAPER, 1), 0)
        self.addCleanup(prctl, PR_SET_CHILD_SUBREAPER, was.value)

    def appModule(self, name: str, source: str) -> dict[str, str]:
        """Write module C{name}; the environment that finds it."""
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory)
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
        path = os.pathsep.join([str(directory), *sys.path])
        return {**os.environ, "PYTHONPATH": path}


class ForkingTests(ForkServerTestCase):
    """It forks workers that are what C{python -m recycler.worker} would be."""

    def test_forksAWorkerThatServes(self) -> None:
        """
        It reports ready; a fork request yields the pid of a worker that is the
        subreaper's child (not the fork server's), reports ready with its pid,
        serves HTTP on the shared socket, and exits 0 once drained.
        """
        server = ForkServerProcess(self)
        self.assertEqual(server.event(), {"kind": "ready", "pid": server.process.pid})
        worker = server.fork("--app", "recycler.demo:hello")
        self.assertEqual(worker.event(), {"kind": "ready", "pid": worker.pid})
        parent = int(Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        self.assertEqual(parent, os.getpid())
        self.assertNotEqual(parent, server.process.pid)
        self.assertEqual(httpGet(server.port), b"hello\n")
        os.write(worker.commands, wire.encode(wire.Command.DRAIN))
        self.assertEqual(worker.wait(), 0)
        self.assertIn("serving recycler.demo:hello", worker.outputLine())

    def test_noInheritedFDs(self) -> None:
        """
        A worker's fds 0-4 are /dev/null and its own four pipes, fd 5 the
        listening socket (adopted into a new fd once it runs); it has no other
        fd of the fork server's nor of a sibling's: the rest it opened itself.
        """
        server = ForkServerProcess(self)
        server.event()
        first = server.fork("--app", "recycler.demo:hello")
        first.event()
        second = server.fork("--app", "recycler.demo:hello")
        second.event()
        forkServer = fdTargets(server.process.pid)
        self.assertEqual(sorted(forkServer), [0, 1, 2, 3, 4, 5])
        self.assertFalse([t for t in forkServer.values() if t.startswith("anon_inode:")])
        # An epoll instance shows as anon_inode:[eventpoll] in any process: the
        # fork server has none (no reactor), so a worker's is its own.
        others = {
            target
            for target in [*forkServer.values(), *fdTargets(first.pid).values()]
            if target != "/dev/null" and not target.startswith("anon_inode:")
        }
        theirs = fdTargets(second.pid)
        ours = fdTargets(os.getpid())
        ends = [second.stdout, second.stderr, second.commands, second.events]
        self.assertEqual([theirs[fd] for fd in range(5)], ["/dev/null", *(ours[fd] for fd in ends)])
        self.assertEqual(
            {fd: t for fd, t in theirs.items() if fd > 4 and t in others},
            {fd: f"socket:[{server.listenerInode}]" for fd in theirs if "socket" in theirs[fd]},
        )
        self.assertEqual(len([t for t in theirs.values() if t.startswith("socket:")]), 1)
        copies = sorted(fd for fd, t in theirs.items() if t in {ours[fd] for fd in ends})
        self.assertEqual(copies, [1, 2, 3, 4], "its pipes, once each: the originals are closed")

    def test_freshRandomSeeds(self) -> None:
        """Two workers forked from one preloaded app draw different random numbers."""
        env = self.appModule(
            "randomapp",
            """
            import random
            from recycler.demo import hello

            def app():
                print("random", random.random(), flush=True)
                return hello
            """,
        )
        server = ForkServerProcess(self, "--preload", "randomapp:app", env=env)
        self.assertEqual(server.event()["kind"], "ready")
        draws = []
        for _ in range(2):
            worker = server.fork("--app", "randomapp:app")
            worker.event()
            draws.append(worker.outputLine())
        self.assertTrue(all(line.startswith("random ") for line in draws), draws)
        self.assertNotEqual(draws[0], draws[1])

    def test_signalDispositionsReset(self) -> None:
        """
        Signals the fork server ignores (inherited through exec) are not ignored
        by a worker, except those only the master acts on (INT, QUIT, USR1: a
        terminal's keys and logrotate's, sent to the whole group); SIGTERM drains
        it (exit 0).
        """
        server = ForkServerProcess(self)
        server.event()
        worker = server.fork("--app", "recycler.demo:hello")
        worker.event()
        status = Path(f"/proc/{worker.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
        ignored = int(line.split()[1], 16)
        self.assertFalse(ignored & (1 << (signal.SIGHUP - 1)))
        self.assertFalse(ignored & (1 << (signal.SIGUSR2 - 1)), "its stacks on SIGUSR2")
        for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
            self.assertTrue(ignored & (1 << (number - 1)), number)
        os.kill(worker.pid, signal.SIGTERM)
        self.assertEqual(worker.wait(), 0)

    def test_workerWithBadApp(self) -> None:
        """A worker whose app cannot be loaded reports it and exits 3, as an exec'd one."""
        server = ForkServerProcess(self)
        server.event()
        worker = server.fork("--app", "nosuch")
        self.assertEqual(worker.event()["kind"], "failed")
        self.assertEqual(worker.wait(), 3)

    def test_badRequests(self) -> None:
        """A request without its four fds, or of an unknown kind, is answered with an error."""
        server = ForkServerProcess(self)
        server.event()
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        reply = server.send(wire.encode(wire.ForkRequest.FORK, argv=[]), [read, write])
        self.assertEqual(reply, {"kind": "error", "reason": "bad request: expected 4 fds, got 2"})
        reply = server.send(b'{"kind":"spoon"}', [read, write, read, write])
        self.assertEqual(reply["kind"], "error")
        self.assertIn("unknown request 'spoon'", reply["reason"])
        worker = server.fork("--app", "recycler.demo:hello")
        self.assertEqual(worker.event()["kind"], "ready")

    def test_eofExits(self) -> None:
        """EOF on its socket (the master is gone) makes it exit 0; its workers live on."""
        server = ForkServerProcess(self)
        server.event()
        worker = server.fork("--app", "recycler.demo:hello")
        worker.event()
        server.requests.close()
        self.assertEqual(server.wait(), (0, ""))
        self.assertEqual(httpGet(server.port), b"hello\n")


class PreloadTests(ForkServerTestCase):
    """What cannot be preloaded is refused at once, with the reason."""

    def refused(self, *args: str, env: dict[str, str] | None = None) -> str:
        server = ForkServerProcess(self, *args, env=env)
        event = server.event()
        assert event is not None
        self.assertEqual(event["kind"], "failed")
        status, output = server.wait()
        self.assertEqual(status, EXIT_PRELOAD_FAILED)
        self.assertIn(event["reason"], output)
        return event["reason"]

    def test_reactorAtImport(self) -> None:
        """An app module that installs the reactor at import time cannot be preloaded."""
        env = self.appModule("reactorapp", "from twisted.internet import reactor\napp = None\n")
        self.assertEqual(
            self.refused("--preload", "reactorapp:app", env=env),
            "'reactorapp:app' cannot be preloaded: it installs the reactor at import time; "
            "run without --preload",
        )

    def test_threadAtImport(self) -> None:
        """An app module that starts a thread at import time cannot be preloaded."""
        env = self.appModule(
            "threadapp",
            """
            import threading, time
            threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
            app = None
            """,
        )
        reason = self.refused("--preload", "threadapp:app", env=env)
        self.assertIn("'threadapp:app' cannot be preloaded: it starts threads at import", reason)

    def test_importError(self) -> None:
        """An app that cannot be imported is reported as a worker reports it."""
        reason = self.refused("--preload", "no_such_module:app")
        self.assertIn("cannot import 'no_such_module'", reason)


class HelperTests(SynchronousTestCase):
    """The small parts, in this process."""

    def test_parseArgs(self) -> None:
        options = parseArgs(["--listeners", "2", "--preload", "m:a"])
        self.assertEqual((options.listeners, options.preload), (2, "m:a"))
        self.assertEqual(parseArgs([]).preload, None)

    def test_ints(self) -> None:
        """SCM_RIGHTS data is native ints; a trailing partial int is dropped."""
        data = array.array("i", [3, 4, 70000]).tobytes()
        self.assertEqual(_ints(data + b"\x01"), [3, 4, 70000])

    def test_wireKinds(self) -> None:
        """Fork requests and replies use the wire's codec."""
        line = wire.encode(wire.ForkRequest.FORK, argv=["--app", "m:a"])
        self.assertEqual(json.loads(line), {"kind": "fork", "argv": ["--app", "m:a"]})
        self.assertEqual(wire.decode(wire.encode(wire.ForkReply.FORKED, pid=7))["pid"], 7)
        self.assertEqual(wire.FORKED_FDS, (1, 2, wire.COMMAND_FD, wire.EVENT_FD))
