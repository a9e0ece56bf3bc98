"""Tests of L{recycler.worker.main}: the real worker process, on the master's pipes."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import time
import types
from typing import Any
from unittest import mock

from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from recycler import wire
from recycler.worker.main import EXIT_APP_ERROR, EXIT_USAGE, WorkerOptions
from recycler.worker.titles import setTitle
from tests.processes import httpGet

TRAMPOLINE = """
import os, sys
fds = [int(fd) for fd in sys.argv[1:4]]
for target, fd in zip((3, 4, 5), fds):
    os.dup2(fd, target)
    os.close(fd)
os.execv(sys.executable, [sys.executable, "-m", "recycler.worker", *sys.argv[4:]])
"""
"""Puts the pipes and the socket at fds 3, 4, 5 as the master does, then runs the worker
(exec keeps the pid). The fds it is given are 10 or more, so none is overwritten early."""


class WorkerOptionsTests(SynchronousTestCase):
    """L{WorkerOptions} is the command line the master builds."""

    def test_defaults(self) -> None:
        """Only C{--app} is needed; the rest has defaults."""
        options = WorkerOptions()
        options.parseOptions(["--app", "m:a"])
        self.assertEqual(
            {name: options[name] for name in ["listeners", "status-interval", "idle-grace"]},
            {"listeners": 1, "status-interval": 1.0, "idle-grace": 1.0},
        )
        self.assertEqual((options["grace"], options["threads"]), (30.0, 10))
        self.assertEqual((options["tls-cert"], options["tls-key"]), (None, None))

    def test_everyFlag(self) -> None:
        """Every flag the master may pass is parsed into its type."""
        options = WorkerOptions()
        options.parseOptions(
            "--app m:a --listeners 2 --status-interval 0.5 --idle-grace 2 --grace 9 "
            "--threads 3 --tls-cert c.pem --tls-key k.pem".split()
        )
        self.assertEqual(
            [options[name] for name in ["listeners", "status-interval", "idle-grace", "grace"]],
            [2, 0.5, 2.0, 9.0],
        )
        self.assertEqual(
            [options[name] for name in ["threads", "tls-cert", "tls-key"]], [3, "c.pem", "k.pem"]
        )

    def test_id(self) -> None:
        """C{--id N} is the master's id for the worker (its process title); none by default."""
        options = WorkerOptions()
        options.parseOptions(["--app", "m:a", "--id", "12"])
        self.assertEqual(options["id"], 12)
        options = WorkerOptions()
        options.parseOptions(["--app", "m:a"])
        self.assertIsNone(options["id"])

    def test_appIsRequired(self) -> None:
        """Without C{--app} the command line is refused."""
        error = self.assertRaises(usage.UsageError, WorkerOptions().parseOptions, [])
        self.assertEqual(str(error), "--app is required")


class TitleTests(SynchronousTestCase):
    """L{setTitle} names the process with setproctitle, if it is installed."""

    def withModule(self, module: types.ModuleType | None) -> None:
        """Make C{import setproctitle} give C{module} (L{None}: an ImportError) in this test."""
        patcher = mock.patch.dict(sys.modules, {"setproctitle": module})
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_title(self) -> None:
        """C{recycler: ROLE [APP]}, C{[-]} without an app."""
        titles: list[str] = []
        fake = types.ModuleType("setproctitle")
        fake.setproctitle = titles.append  # type: ignore[attr-defined]
        self.withModule(fake)
        self.assertTrue(setTitle("worker 12", "myapp:app"))
        self.assertTrue(setTitle("fork server", None))
        self.assertEqual(titles, ["recycler: worker 12 [myapp:app]", "recycler: fork server [-]"])

    def test_withoutSetproctitle(self) -> None:
        """Without setproctitle nothing changes, and nothing fails."""
        self.withModule(None)
        self.assertFalse(setTitle("worker 12", "myapp:app"))


class BoundaryTests(SynchronousTestCase):
    """The worker side imports only L{recycler.wire} and L{recycler.worker} from this project."""

    def test_importsOnlyWireAndWorker(self) -> None:
        """Importing the worker program loads no master, admin, tap or testing module."""
        code = (
            "import json, sys, recycler.worker.main; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('recycler'))))"
        )
        modules = json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        self.assertIn("recycler.worker.main", modules)
        outside = [
            m
            for m in modules
            if m not in ("recycler", "recycler.wire") and not m.startswith("recycler.worker")
        ]
        self.assertEqual(outside, [])


class WorkerProcess:
    """
    A real worker process, started with the fds the master gives it: fd 3 for
    commands, fd 4 for events, fd 5 a listening socket on 127.0.0.1.

    Everything here blocks (with timeouts) instead of running a reactor: under
    pytest-twisted the global reactor may already be running.

    @ivar events: The events it sent so far, decoded.
    @ivar port: The TCP port it serves.
    """

    def __init__(self, case: SynchronousTestCase, *args: str) -> None:
        listening = socket.create_server(("127.0.0.1", 0))
        self.port = listening.getsockname()[1]
        commandRead, self._commands = os.pipe()
        self._eventsIn, eventWrite = os.pipe()
        given = [highFD(fd) for fd in (commandRead, eventWrite, listening.fileno())]
        self.process = subprocess.Popen(
            [sys.executable, "-c", TRAMPOLINE, *map(str, given), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=given,
        )
        for fd in [commandRead, eventWrite, *given]:
            os.close(fd)
        listening.close()
        self.events: list[dict[str, Any]] = []
        self._partial = b""
        case.addCleanup(self.close)

    def nextEvent(self, timeout: float = 10) -> dict[str, Any]:
        """Wait for the next event; fail after C{timeout} seconds or at EOF."""
        event = self._readEvent(timeout)
        if event is None:
            raise AssertionError(f"the event pipe closed; got {self.events}")
        return event

    def _readEvent(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._partial:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._eventsIn], [], [], remaining)[0]:
                raise AssertionError(f"no event after {timeout}s; got {self.events}")
            data = os.read(self._eventsIn, 4096)
            if not data:
                return None
            self._partial += data
        line, self._partial = self._partial.split(b"\n", 1)
        self.events.append(wire.decode(line))
        return self.events[-1]

    def waitFor(self, kind: str, **fields: object) -> dict[str, Any]:
        """Wait for an event of C{kind} with these field values."""
        while True:
            event = self.nextEvent()
            if event["kind"] == kind and fields.items() <= event.items():
                return event

    def command(self, kind: wire.Command) -> None:
        os.write(self._commands, wire.encode(kind))

    def closeCommands(self) -> None:
        """Close the command pipe, as the master's death does."""
        os.close(self._commands)
        self._commands = -1

    def wait(self) -> tuple[int, str]:
        """Wait for the worker to exit; return its status and its output."""
        output, _ = self.process.communicate(timeout=10)
        return self.process.returncode, output.decode(errors="replace")

    def remainingEvents(self) -> list[dict[str, Any]]:
        """Every event it sent, up to EOF (once it has exited)."""
        while self._readEvent(timeout=10) is not None:
            pass
        return self.events

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()
        for fd in (self._commands, self._eventsIn):
            if fd >= 0:
                os.close(fd)


def highFD(fd: int) -> int:
    """A duplicate of C{fd} numbered 10 or more (and closed on exec unless passed)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


class WorkerProcessTests(SynchronousTestCase):
    """The worker program, end to end, without a master: what the master relies on."""

    def test_servesThenDrains(self) -> None:
        """
        The worker reports ready with its pid, serves, sends its counters as a
        heartbeat, and on C{drain} exits 0 after a final status.
        """
        worker = WorkerProcess(self, "--app", "recycler.demo:hello", "--status-interval", "0.1")
        self.assertEqual(worker.nextEvent(), {"kind": "ready", "pid": worker.process.pid})
        self.assertEqual(httpGet(worker.port), b"hello\n")
        worker.waitFor("status", served=1, inFlight=0)
        worker.command(wire.Command.DRAIN)
        status, output = worker.wait()
        self.assertEqual(status, 0)
        events = worker.remainingEvents()
        self.assertEqual(events[-1], {"kind": "status", "served": 1, "inFlight": 0})
        self.assertEqual({event["kind"] for event in events[1:]}, {"status"})
        self.assertIn("serving recycler.demo:hello (twisted.web resource)", output)

    def test_processTitle(self) -> None:
        """With setproctitle, ps shows C{recycler: worker ID [APP]} from C{--id} and C{--app}."""
        if importlib.util.find_spec("setproctitle") is None:
            raise SkipTest("setproctitle is not installed (pip install 'recycler[title]')")
        worker = WorkerProcess(self, "--app", "recycler.demo:hello", "--id", "7")
        worker.waitFor("ready")
        with open(f"/proc/{worker.process.pid}/cmdline", "rb") as f:
            cmdline = f.read().rstrip(b"\0")
        self.assertEqual(cmdline, b"recycler: worker 7 [recycler.demo:hello]")

    def test_masterGone(self) -> None:
        """EOF on the command pipe (the master died) drains the worker, which exits 0."""
        worker = WorkerProcess(self, "--app", "recycler.demo:hello")
        worker.waitFor("ready")
        worker.closeCommands()
        status, output = worker.wait()
        self.assertEqual(status, 0)
        self.assertIn("master is gone; draining and exiting", output)
        self.assertEqual(worker.remainingEvents()[-1]["kind"], "status")

    def test_sigterm(self) -> None:
        """SIGTERM drains like the C{drain} command."""
        worker = WorkerProcess(self, "--app", "recycler.demo:hello")
        worker.waitFor("ready")
        worker.process.terminate()
        status, _ = worker.wait()
        self.assertEqual(status, 0)
        self.assertEqual(worker.remainingEvents()[-1]["kind"], "status")

    def test_abortsShortlyBeforeTheMastersGrace(self) -> None:
        """
        C{--grace} is the master's: a request still running when the worker is
        about to be killed is aborted, 0.75 s into the drain for a grace of
        1.5 s, so a request of 1 s started just before the drain is cut off.
        """
        worker = WorkerProcess(
            self, "--app", "recycler.demo:resource", "--grace", "1.5", "--status-interval", "0.02"
        )
        worker.waitFor("ready")
        client = socket.create_connection(("127.0.0.1", worker.port), timeout=10)
        self.addCleanup(client.close)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        worker.waitFor("status", inFlight=1)
        worker.command(wire.Command.DRAIN)
        status, _ = worker.wait()
        self.assertEqual(status, 0)
        self.assertEqual(
            worker.remainingEvents()[-1], {"kind": "status", "served": 0, "inFlight": 0}
        )
        try:
            answer = client.recv(4096)
        except ConnectionResetError:
            answer = b""
        self.assertEqual(answer, b"", "aborted, not answered")

    def test_badCommandLine(self) -> None:
        """A bad command line exits with status 2 and says why on stderr."""
        worker = WorkerProcess(self, "--listeners", "1")
        self.assertEqual(worker.wait(), (EXIT_USAGE, "recycler worker: --app is required\n"))
        self.assertEqual(worker.remainingEvents(), [])

    def test_badApp(self) -> None:
        """An app that cannot be loaded is reported to the master, then exits with status 3."""
        worker = WorkerProcess(self, "--app", "nosuch")
        status, output = worker.wait()
        self.assertEqual(status, EXIT_APP_ERROR)
        reason = "expected 'package.module:name', got 'nosuch'"
        self.assertEqual(worker.remainingEvents(), [{"kind": "failed", "reason": reason}])
        self.assertNotIn(reason, output)


class NoMasterTests(SynchronousTestCase):
    """Run by hand, without the event pipe, the worker prints its errors."""

    def test_badAppOnStderr(self) -> None:
        """Without fd 4, the reason goes to stderr; the status is still 3."""
        result = subprocess.run(
            [sys.executable, "-m", "recycler.worker", "--app", "no_such_module:app"],
            capture_output=True,
            text=True,
        )
        self.assertEqual(result.returncode, EXIT_APP_ERROR)
        self.assertIn("recycler worker: cannot import 'no_such_module'", result.stderr)
