"""
Tests of L{recycler.master.forkserver}: the master's client of the fork server.

The client's own logic runs against a fake process reactor and a fake fork
server end: a socket pair whose other end the test holds, with the reply
queued before the (blocking) request, since a C{SOCK_SEQPACKET} socket keeps
packets in order. One end-to-end run, the real fork server under the real
reactor, happens in a subprocess (L{endToEnd}): under pytest the global
reactor may already be running.
"""

from __future__ import annotations

import array
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IProcessProtocol
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.forkserver import ForkServer, ForkServerError
from recycler.testing import FakeProcessReactor

ROOT = Path(__file__).resolve().parent.parent.parent


class FakeListeners:
    def __init__(self, *fds: int) -> None:
        self.fds = list(fds)

    def filenos(self) -> list[int]:
        return list(self.fds)


class SocketKeepingReactor(FakeProcessReactor):
    """Keeps a copy of the fork server's end of the socket pair: the test plays it."""

    serverEnd: socket.socket | None = None

    def spawnProcess(self, *args: Any, **kwargs: Any) -> Any:
        if self.spawnError is None:
            fd = kwargs["childFDs"][wire.FORK_SOCKET_FD]
            self.serverEnd = socket.socket(fileno=os.dup(fd))
        return super().spawnProcess(*args, **kwargs)


class Adopted:
    """What L{ForkServer.fork} built: stands in for a L{ForkedProcess}."""

    def __init__(
        self, reactor: Any, protocol: IProcessProtocol, pid: int, pipes: Mapping[int, Any]
    ) -> None:
        self.reactor, self.protocol, self.pid, self.pipes = reactor, protocol, pid, dict(pipes)


def openFDs() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def closeQuietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


class ClientTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = SocketKeepingReactor()
        self.gone: list[str] = []
        self.logged: list[dict[str, Any]] = []
        self.adopted: list[Adopted] = []
        self.subreaper = True
        self.server = ForkServer(
            self.reactor,
            FakeListeners(7),
            "/py",
            {"A": "1"},
            onGone=self.gone.append,
            events=self.logged.append,
            becomeSubreaper=lambda: self.subreaper,
            adopt=self.adopt,
        )
        self.addCleanup(self.closeAll)

    def adopt(self, *args: Any) -> Adopted:
        self.adopted.append(Adopted(*args))
        return self.adopted[-1]

    def closeAll(self) -> None:
        if self.reactor.serverEnd is not None:
            self.reactor.serverEnd.close()
        for adopted in self.adopted:
            for fd, _ in adopted.pipes.values():
                os.close(fd)
        for process in self.reactor.alive():
            process.exit()

    def startReady(self) -> None:
        started = self.server.start()
        self.reactor.processes[-1].send(wire.Event.READY, pid=1000)
        self.successResultOf(started)

    def answer(self, kind: wire.ForkReply, **fields: object) -> None:
        """Queue the fork server's reply to the next request."""
        assert self.reactor.serverEnd is not None
        self.reactor.serverEnd.send(wire.encode(kind, **fields))

    def request(self) -> tuple[dict[str, Any], list[int]]:
        """The request the fork server received, and its fds (the test closes them)."""
        assert self.reactor.serverEnd is not None
        data, ancdata, _, _ = self.reactor.serverEnd.recvmsg(65536, socket.CMSG_SPACE(64))
        fds = array.array("i")
        for _, _, cdata in ancdata:
            fds.frombytes(cdata)
        for fd in fds:
            self.addCleanup(closeQuietly, fd)
        return wire.decode(data), list(fds)


class StartTests(ClientTestCase):
    """Starting the fork server, and learning that it cannot start."""

    def test_commandLine(self) -> None:
        """It runs the fork server module on the listeners, its socket at fd 3."""
        self.startReady()
        process = self.reactor.processes[0]
        self.assertEqual(
            process.args, ["/py", "-m", "recycler.worker.forkserver", "--listeners", "1"]
        )
        self.assertEqual(process.env, {"A": "1"})
        fds = process.childFDs
        self.assertEqual(
            {fd: fds[fd] for fd in (0, 1, 2, 4, 5)}, {0: "w", 1: "r", 2: "r", 4: "r", 5: 7}
        )
        self.assertIsInstance(fds[3], int)
        self.assertEqual(process.closedFDs, [0])
        self.assertEqual(self.server.pid, process.pid)
        self.assertTrue(self.server.running)

    def test_preload(self) -> None:
        """With an app to preload, it is passed on."""
        server = ForkServer(self.reactor, FakeListeners(7, 8), "/py", {}, "m:a")
        self.assertEqual(server.argv()[-4:], ["--listeners", "2", "--preload", "m:a"])

    def test_notReadyYet(self) -> None:
        """Until it reports ready, start has not fired and nothing can be forked."""
        started = self.server.start()
        self.assertNoResult(started)
        self.assertFalse(self.server.running)
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertEqual(str(error), "the fork server is not running")
        self.server.stop()
        self.failureResultOf(started, ForkServerError)

    def test_failed(self) -> None:
        """The reason it reports (an app that cannot be preloaded) fails the start."""
        started = self.server.start()
        self.reactor.processes[0].send(wire.Event.FAILED, reason="'m:a' cannot be preloaded")
        self.reactor.processes[0].exit(3)
        failure = self.failureResultOf(started, ForkServerError)
        self.assertIn("'m:a' cannot be preloaded", str(failure.value))
        self.assertEqual(self.gone, [])

    def test_exitsBeforeReady(self) -> None:
        """Exiting without a reason fails the start with its exit status."""
        started = self.server.start()
        self.reactor.processes[0].exit(1)
        failure = self.failureResultOf(started, ForkServerError)
        self.assertIn("it exited before it was ready (exit code 1)", str(failure.value))

    def test_startTimeout(self) -> None:
        """Not ready within its start timeout, it is killed and the start fails."""
        started = self.server.start()
        self.reactor.advance(self.server.startTimeout)
        self.assertEqual(self.reactor.processes[0].signals, ["KILL"])
        failure = self.failureResultOf(started, ForkServerError)
        self.assertIn("not ready after 60.0s", str(failure.value))

    def test_noSubreaper(self) -> None:
        """A master that cannot become a subreaper refuses fork mode, with a warning."""
        self.subreaper = False
        failure = self.failureResultOf(self.server.start(), ForkServerError)
        self.assertIn("child subreaper", str(failure.value))
        self.assertEqual(self.reactor.processes, [])
        self.assertIn("use --spawn exec", formatEvent(self.logged[-1]))

    def test_spawnError(self) -> None:
        """A fork server that cannot be spawned fails the start, leaking no fd."""
        before = openFDs()
        self.reactor.spawnError = OSError("out of processes")
        failure = self.failureResultOf(self.server.start(), ForkServerError)
        self.assertIn("out of processes", str(failure.value))
        self.assertEqual(openFDs(), before)

    def test_outputRelayed(self) -> None:
        """Its stdout and stderr reach the master's log, line by line, tagged."""
        self.startReady()
        self.reactor.processes[0].output(b"one\ntw")
        self.reactor.processes[0].output(b"oops\n", fd=2)
        self.reactor.processes[0].output(b"o\n")
        lines = [(e["stream"], formatEvent(e)) for e in self.logged if e.get("stream")]
        self.assertEqual(
            lines,
            [
                ("stdout", "[fork server] one"),
                ("stderr", "[fork server] oops"),
                ("stdout", "[fork server] two"),
            ],
        )


class ForkTests(ClientTestCase):
    """One fork: the request, its fds, and every way it can fail."""

    def test_request(self) -> None:
        """
        The request carries the worker's argv and the worker's ends of its four
        pipes (stdout, stderr, commands, events); the master keeps the other
        ends, closes the worker's, and adopts the pid it was told.
        """
        self.startReady()
        self.answer(wire.ForkReply.FORKED, pid=4242)
        protocol = ProcessProtocol()
        transport = self.server.fork(protocol, ["--app", "m:a", "--listeners", "1"])
        self.assertIs(transport, self.adopted[0])
        self.assertEqual((transport.pid, transport.protocol), (4242, protocol))
        self.assertIs(transport.reactor, self.reactor)
        pipes = transport.pipes
        self.assertEqual({fd: d for fd, (_, d) in pipes.items()}, {1: "r", 2: "r", 3: "w", 4: "r"})
        message, (stdout, stderr, commands, events) = self.request()
        self.assertEqual(message, {"kind": "fork", "argv": ["--app", "m:a", "--listeners", "1"]})
        for fd, master in ((stdout, 1), (stderr, 2), (events, 4)):
            os.write(fd, b"x")
            self.assertEqual(os.read(pipes[master][0], 10), b"x")
            os.close(fd)
            self.assertEqual(os.read(pipes[master][0], 10), b"", "the master closed its copy")
        os.write(pipes[3][0], b"drain\n")
        self.assertEqual(os.read(commands, 10), b"drain\n")
        os.close(commands)
        self.assertRaises(BrokenPipeError, os.write, pipes[3][0], b"x")
        for fd, _ in pipes.values():
            self.assertTrue(os.get_blocking(fd) and not os.get_inheritable(fd))

    def test_errorReply(self) -> None:
        """An error reply fails this fork only; nothing leaks, the fork server stays."""
        self.startReady()
        before = openFDs()
        self.answer(wire.ForkReply.ERROR, reason="cannot fork: out of memory")
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertEqual(str(error), "the fork server could not fork: cannot fork: out of memory")
        self.assertEqual(openFDs() - before, set())
        self.assertEqual(len(self.request()[1]), 4)
        self.assertTrue(self.server.running)
        self.assertEqual(self.reactor.processes[0].signals, [])

    def test_noReplyInTime(self) -> None:
        """
        No answer within the reply timeout: the fork fails, the fork server is
        killed as broken, and the master is told it is gone.
        """
        self.startReady()
        self.server.replyTimeout = 0.05
        before = openFDs()
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertEqual(
            str(error), "the fork server is broken: no answer to a fork request in 0.05s"
        )
        self.assertEqual(openFDs() - before, set())
        self.assertFalse(self.server.running)
        self.assertEqual(self.reactor.processes[0].signals, ["KILL"])
        self.assertEqual(self.gone, ["no answer to a fork request in 0.05s; signal 9"])
        self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])

    def test_closedSocket(self) -> None:
        """A fork server whose socket is closed (it died) fails the fork at once."""
        self.startReady()
        assert self.reactor.serverEnd is not None
        self.reactor.serverEnd.close()
        self.reactor.serverEnd = None
        before = openFDs()
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertIn("the fork server is broken: ", str(error))
        self.assertEqual(openFDs() - before, set())
        self.assertFalse(self.server.running)

    def test_garbledReply(self) -> None:
        """A reply that is not one is as bad as none."""
        self.startReady()
        assert self.reactor.serverEnd is not None
        self.reactor.serverEnd.send(b'{"kind":"forked","pid":"many"}')
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertIn("broken: it answered", str(error))

    def test_cannotAdopt(self) -> None:
        """A pid that cannot be adopted is killed; the fork fails; nothing leaks."""
        self.startReady()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)

        def refuse(*args: Any) -> Any:
            raise ChildProcessError(10, "not our child")

        self.server._adopt = refuse
        self.answer(wire.ForkReply.FORKED, pid=child.pid)
        before = openFDs()
        error = self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])
        self.assertIn(f"cannot adopt forked worker {child.pid}", str(error))
        self.assertEqual(child.wait(timeout=10), -signal.SIGKILL)
        self.assertEqual(openFDs() - before, set())
        self.assertTrue(self.server.running)


class LifeTests(ClientTestCase):
    """Its death, stopping it, starting it again."""

    def test_diesOnceReady(self) -> None:
        """A fork server that dies once ready is reported, once, and forks no more."""
        self.startReady()
        self.reactor.processes[0].exit(1)
        self.assertEqual(self.gone, ["exit code 1"])
        self.assertFalse(self.server.running)
        self.assertIsNone(self.server.pid)
        self.assertRaises(ForkServerError, self.server.fork, ProcessProtocol(), [])

    def test_stop(self) -> None:
        """Stopping closes its socket (EOF: it exits); fires once it has ended."""
        self.startReady()
        stopped = self.server.stop()
        self.assertFalse(self.server.running)
        assert self.reactor.serverEnd is not None
        self.assertEqual(self.reactor.serverEnd.recv(100), b"")
        self.assertNoResult(stopped)
        self.reactor.processes[0].exit(0)
        self.successResultOf(stopped)
        self.assertEqual(self.gone, [])
        self.successResultOf(self.server.stop())

    def test_stopKillsAStuckServer(self) -> None:
        """One that does not exit on EOF in time is killed."""
        self.startReady()
        stopped = self.server.stop()
        self.reactor.advance(self.server.stopTimeout)
        self.assertEqual(self.reactor.processes[0].signals, ["KILL"])
        self.successResultOf(stopped)

    def test_stopWhileStarting(self) -> None:
        """Stopping one that is still preloading kills it and fails the start."""
        started = self.server.start()
        stopped = self.server.stop()
        self.assertEqual(self.reactor.processes[0].signals, ["KILL"])
        self.successResultOf(stopped)
        failure = self.failureResultOf(started, ForkServerError)
        self.assertIn("stopped before it was ready", str(failure.value))

    def test_startAgain(self) -> None:
        """Once its process has ended it can be started again; not while it runs."""
        self.startReady()
        self.failureResultOf(self.server.start(), ForkServerError)
        self.reactor.processes[0].exit(1)
        assert self.reactor.serverEnd is not None
        self.reactor.serverEnd.close()
        self.startReady()
        self.assertEqual(len(self.reactor.processes), 2)
        self.assertTrue(self.server.running)


class Recorder(ProcessProtocol):
    """A worker's protocol in the end-to-end run: its events, and how it ended."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.waiting: dict[str, Any] = {}
        self.exitCode: int | str | None = None
        self._partial = b""

    def when(self, what: str) -> Any:
        from twisted.internet.defer import Deferred

        self.waiting[what] = Deferred()
        return self.waiting[what]

    def fire(self, what: str) -> None:
        waiting = self.waiting.pop(what, None)
        if waiting is not None:
            waiting.callback(None)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == wire.EVENT_FD:
            *lines, self._partial = (self._partial + data).split(b"\n")
            for line in lines:
                self.events.append(wire.decode(line))
                self.fire(self.events[-1]["kind"])

    def processEnded(self, reason: Failure) -> None:
        self.exitCode = getattr(reason.value, "exitCode", repr(reason.value))
        self.fire("ended")


def endToEnd(count: int = 2, preload: str | None = "recycler.demo:hello") -> None:
    """
    The master's part, for real, in this process: start a fork server, fork
    C{count} workers one after another (each up to C{ready}), serve a request,
    drain them all, stop the fork server; print what happened as JSON.
    """
    from twisted.internet import defer, reactor

    listening = socket.create_server(("127.0.0.1", 0))
    server = ForkServer(
        reactor, FakeListeners(listening.fileno()), sys.executable, os.environ, preload
    )
    result: dict[str, Any] = {"readyMs": [], "cpuMs": [], "pids": []}

    @defer.inlineCallbacks
    def run() -> Any:
        yield server.start()
        result["forkServerPid"] = server.pid
        workers = []
        for _ in range(count):
            worker = Recorder()
            ready = worker.when("ready")
            began = time.perf_counter()
            transport = server.fork(worker, ["--app", "recycler.demo:hello", "--listeners", "1"])
            yield ready
            result["readyMs"].append((time.perf_counter() - began) * 1000)
            schedstat = Path(f"/proc/{transport.pid}/schedstat").read_text()
            result["cpuMs"].append(int(schedstat.split()[0]) / 1e6)
            result["pids"].append([transport.pid, worker.events[0]["pid"]])
            workers.append((worker, transport))
        connection = http.client.HTTPConnection("127.0.0.1", listening.getsockname()[1], timeout=10)
        connection.request("GET", "/")
        result["body"] = connection.getresponse().read().decode()
        connection.close()
        ended = [worker.when("ended") for worker, _ in workers]
        for _, transport in workers:
            transport.writeToChild(wire.COMMAND_FD, wire.encode(wire.Command.DRAIN))
        yield defer.gatherResults(ended)
        result["exitCodes"] = [worker.exitCode for worker, _ in workers]
        yield server.stop()
        result["gone"] = [pid for pid, _ in result["pids"] if Path(f"/proc/{pid}").exists()]

    def done(outcome: Any) -> None:
        if isinstance(outcome, Failure):
            result["error"] = outcome.getTraceback()
        print(json.dumps(result), flush=True)
        reactor.stop()

    reactor.callWhenRunning(lambda: run().addBoth(done))
    reactor.callLater(60, lambda: (result.setdefault("error", "timed out"), reactor.stop()))
    reactor.run()


def runEndToEnd(count: int = 2) -> dict[str, Any]:
    """L{endToEnd} in a subprocess (a fresh reactor); its JSON result."""
    code = f"from tests.master.test_forkserver import endToEnd; endToEnd({count})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise AssertionError(f"status {result.returncode}: {result.stdout}\n{result.stderr}")
    return json.loads(lines[-1])


class EndToEndTests(SynchronousTestCase):
    """The client, the real fork server and real forked workers under a real reactor."""

    def test_forkServeDrain(self) -> None:
        """
        Two forked workers report ready (with their own pid) over their event
        pipes, one serves a request, both exit 0 once drained (the master reaps
        them: they are its children), and none is left.
        """
        result = runEndToEnd(2)
        self.assertNotIn("error", result)
        self.assertEqual([pid for pid, said in result["pids"] if pid != said], [])
        self.assertNotIn(result["forkServerPid"], [pid for pid, _ in result["pids"]])
        self.assertEqual(result["body"], "hello\n")
        self.assertEqual(result["exitCodes"], [0, 0])
        self.assertEqual(result["gone"], [])


def measure(count: int = 20) -> None:
    """Print fork request -> ready and CPU to ready (ms), medians over C{count} workers."""
    result = runEndToEnd(count)
    for key in ("readyMs", "cpuMs"):
        values: Sequence[float] = result[key]
        print(
            f"{key}: median {statistics.median(values):.1f}, min {min(values):.1f}, "
            f"max {max(values):.1f} (n={len(values)})"
        )


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
