"""Tests of L{recycler.worker.access}: the access log file, and the sites that write to it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.demo import DelayedAnswer
from recycler.worker.access import AccessLogFile, openAccessLog
from recycler.worker.apps import serverFor
from recycler.worker.errors import AppError
from tests.worker.test_apps import EchoFactory

COMBINED = re.compile(
    r'"1\.2\.3\.4" - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
    r'"GET /path\?q=1 HTTP/1\.1" 200 6 "-" "test-agent/1\.0"\n$'
)
"""twisted.web's combined log format (it quotes the client's address)."""

REQUEST = b"GET /path?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: test-agent/1.0\r\n\r\n"


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


class AccessLogFileTests(SynchronousTestCase):
    """L{AccessLogFile} appends whole lines, and reopens its path on request."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.path = os.path.join(self.directory, "access.log")

    def test_workersAppendToTheSameFile(self) -> None:
        """
        Two workers' files on one path: each write appends (O_APPEND), so no line
        overwrites another, and existing lines are kept.
        """
        with open(self.path, "w") as f:
            f.write("before\n")
        first, second = AccessLogFile(self.path), AccessLogFile(self.path)
        for n in range(3):
            first.write(f"first {n}\n")
            second.write(f"second {n}\n")
        expected = ["before"] + [f"{w} {n}" for n in range(3) for w in ("first", "second")]
        self.assertEqual(read(self.path).splitlines(), expected)

    def test_reopenAfterRename(self) -> None:
        """After the file was renamed, reopen writes to a fresh file at the path."""
        log = AccessLogFile(self.path)
        log.write("old\n")
        os.rename(self.path, self.path + ".1")
        log.write("still old\n")
        with capturedLogs() as events:
            log.reopen()
        log.write("new\n")
        self.assertEqual(read(self.path + ".1"), "old\nstill old\n")
        self.assertEqual(read(self.path), "new\n")
        self.assertEqual([e["log_format"] for e in events], ["reopened the access log {path}"])

    def test_reopenFailureKeepsTheOldFile(self) -> None:
        """If the path cannot be opened, the error is logged and lines go to the old file."""
        log = AccessLogFile(self.path)
        os.rename(self.directory, self.directory + ".moved")
        self.addCleanup(os.rename, self.directory + ".moved", self.directory)
        with capturedLogs() as events:
            log.reopen()
        log.write("kept\n")
        self.assertEqual(read(os.path.join(self.directory + ".moved", "access.log")), "kept\n")
        [error] = events
        self.assertEqual(
            (error["log_level"], error["error"]), (LogLevel.error, "No such file or directory")
        )

    def test_writeErrorsAreLoggedOnce(self) -> None:
        """A failing write (a full disk) logs one error, never raises."""
        log = AccessLogFile("/dev/full")
        with capturedLogs() as events:
            log.write("lost\n")
            log.write("lost too\n")
        [error] = events
        self.assertEqual((error["path"], error["error"]), ("/dev/full", "No space left on device"))

    def test_stdoutIsNotReopened(self) -> None:
        """C{-} is the worker's stdout: there is nothing to reopen."""
        with capturedLogs() as events:
            AccessLogFile("-").reopen()
        self.assertEqual(events, [])

    def test_openAccessLog(self) -> None:
        """No path, no access log; one that cannot be opened is an AppError saying why."""
        self.assertIsNone(openAccessLog(None))
        self.assertEqual(openAccessLog(self.path).path, self.path)
        with self.assertRaises(AppError) as raised:
            openAccessLog(self.directory)
        self.assertEqual(
            str(raised.exception), f"cannot open the access log {self.directory}: Is a directory"
        )


class Recorder:
    """Stands in for an L{AccessLogFile}."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)


class ThreadlessClock(Clock):
    """Runs calls from threads at once (a WSGI app served in this thread)."""

    def callFromThread(self, f: Callable, *args: object, **kwargs: object) -> None:
        f(*args, **kwargs)


def request(app: object, accessLog: Recorder | None) -> bytes:
    """Serve L{REQUEST} with L{serverFor}'s factory for C{app}; return the response."""
    server = serverFor(app, ThreadlessClock(), accessLog=accessLog)  # type: ignore[arg-type]
    if server.threadPool is not None:
        server.threadPool.callInThread = lambda f, *args, **kwargs: f(*args, **kwargs)
    server.factory.doStart()
    client = IPv4Address("TCP", "1.2.3.4", 5)
    channel = server.factory.buildProtocol(client)
    transport = StringTransport(peerAddress=client)
    channel.makeConnection(transport)
    channel.dataReceived(REQUEST)
    return transport.value()


class SiteAccessLogTests(SynchronousTestCase):
    """HTTP apps write one combined-format line per request to the access log."""

    def test_resourceAndWSGI(self) -> None:
        """A twisted.web resource and a WSGI app each log their request, in one write."""
        for app in (DelayedAnswer(0, b"hello\n"), wsgiLength):
            accessLog = Recorder()
            self.assertIn(b"200 OK", request(app, accessLog))
            [line] = accessLog.lines
            self.assertRegex(line, COMBINED)

    def test_offWithoutAccessLog(self) -> None:
        """Without an access log the requests are served all the same."""
        self.assertIn(b"hello\n", request(DelayedAnswer(0, b"hello\n"), None))

    def test_protocolFactoryIgnoresIt(self) -> None:
        """A protocol factory is not HTTP: it has no access log."""
        server = serverFor(EchoFactory(), Clock(), accessLog=Recorder())  # type: ignore[arg-type]
        self.assertFalse(hasattr(server.factory, "accessLog"))


def wsgiLength(environ: dict, start_response: Callable) -> list[bytes]:
    """A WSGI app answering 6 bytes, with their length."""
    start_response("200 OK", [("Content-Length", "6")])
    return [b"hello\n"]
