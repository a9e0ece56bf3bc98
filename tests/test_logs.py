"""Tests of L{recycler.logs}: the master's log as JSON lines, and the C{--access-log} check."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime

from twisted.internet.task import Clock
from twisted.logger import ILogObserver, Logger, LogLevel, LogPublisher
from twisted.python import log as legacyLog
from twisted.python import usage
from twisted.python.reflect import namedAny
from twisted.trial.unittest import SynchronousTestCase

from recycler.logs import accessLogPath, eventAsJSON, jsonLinesObserver
from recycler.master.events import WorkerEvent
from recycler.master.output import OutputRelay
from recycler.tap import Options, workerCommand

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

TRACEBACK = b"""\
Traceback (most recent call last):
  File "/srv/app.py", line 3, in render
    raise RuntimeError('bad "quote"\\tand tab')
RuntimeError: bad "quote"\tand tab
"""


class Recorder(io.StringIO):
    """A file that counts its flushes."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def records(out: io.StringIO) -> list[dict]:
    """Each line of C{out} as JSON; fails if a line is not one JSON object."""
    text = out.getvalue()
    assert text.endswith("\n"), text
    return [json.loads(line) for line in text.splitlines()]


def loggerTo(out: io.StringIO, namespace: str = "recycler.test") -> Logger:
    return Logger(namespace=namespace, observer=jsonLinesObserver(out))


class EventAsJSONTests(SynchronousTestCase):
    """Each event is one JSON object on one line, with the mapped keys and its own fields."""

    def test_mappedKeys(self) -> None:
        """time (ISO 8601 UTC), level by name, the rendered message and the namespace."""
        out = io.StringIO()
        log = loggerTo(out)
        for level in (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error):
            log.emit(level, "worker {workerId} ready in {startup:.3f}s", workerId=3, startup=0.5)
        found = records(out)
        self.assertEqual([r["level"] for r in found], ["debug", "info", "warn", "error"])
        record = found[1]
        self.assertEqual(record["message"], "worker 3 ready in 0.500s")
        self.assertEqual(record["namespace"], "recycler.test")
        self.assertEqual((record["workerId"], record["startup"]), (3, 0.5))
        self.assertRegex(record["time"], ISO_UTC)
        when = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        self.assertLess(abs(when.timestamp() - time.time()), 60)
        self.assertEqual([k for k in record if k.startswith("log_")], [])

    def test_timeIsTheEventsOwn(self) -> None:
        """C{time} is the event's C{log_time}, in UTC."""
        line = eventAsJSON({"log_time": 0.25, "log_format": "x", "log_level": LogLevel.info})
        self.assertEqual(json.loads(line)["time"], "1970-01-01T00:00:00.250000Z")

    def test_fieldsJSONCannotEncode(self) -> None:
        """Bytes, objects, NaN and cycles become their repr; enums their value."""
        cycle: list[object] = []
        cycle.append(cycle)
        out = io.StringIO()
        loggerTo(out).info(
            "odd",
            raw=b"\xff",
            thing=object,
            nan=math.nan,
            cycle=cycle,
            nested={"ok": [1, "two", None]},
            event=WorkerEvent.BORN,
        )
        [record] = records(out)
        self.assertEqual(record["raw"], "b'\\xff'")
        self.assertEqual(record["thing"], "<class 'object'>")
        self.assertEqual(record["nan"], "nan")
        self.assertEqual(record["cycle"], "[[...]]")
        self.assertEqual(record["nested"], {"ok": [1, "two", None]})
        self.assertEqual(record["event"], "born")

    def test_failureBecomesTraceback(self) -> None:
        """A logged failure's traceback is a C{traceback} field: the text observers show it."""
        out = io.StringIO()
        try:
            raise ZeroDivisionError("by zero")
        except ZeroDivisionError:
            loggerTo(out).failure("division went wrong")
        [record] = records(out)
        self.assertEqual((record["level"], record["message"]), ("critical", "division went wrong"))
        self.assertIn("ZeroDivisionError", record["traceback"])

    def test_legacyEvents(self) -> None:
        """twisted.python.log events get the mapped keys (not their own message tuple)."""
        out = io.StringIO()
        legacy = legacyLog.LogPublisher(publishPublisher=LogPublisher(jsonLinesObserver(out)))
        legacy.msg("Server Shut Down.", system="-")
        legacy.msg("it broke", isError=1)
        done, broke = records(out)
        self.assertEqual((done["message"], done["level"]), ("Server Shut Down.", "info"))
        self.assertEqual((done["namespace"], done["system"]), ("log_legacy", "-"))
        self.assertRegex(done["time"], ISO_UTC)
        self.assertEqual((broke["message"], broke["level"]), ("it broke", "critical"))

    def test_relayedWorkerOutput(self) -> None:
        """
        Worker output relayed by the master is one line each, a multi-line
        traceback included (its newlines, quotes, tabs and non-ASCII escaped).
        """
        out = io.StringIO()
        clock = Clock()
        relay = OutputRelay(clock, loggerTo(out, "recycler.master.handle"), 7, "stderr")
        relay.dataReceived("caf\u00e9 \u2028 ok\n".encode() + TRACEBACK + b"next\n")
        clock.advance(1)  # the relay waits a moment for a chained traceback
        relay.flush()
        self.assertEqual(out.getvalue().count("\n"), 3)
        self.assertTrue(out.getvalue().isascii())
        line, traceback, after = records(out)
        self.assertEqual((line["line"], line["workerId"]), ("caf\u00e9 \u2028 ok", 7))
        self.assertEqual((traceback["level"], traceback["stream"]), ("error", "stderr"))
        self.assertEqual(traceback["traceback"], TRACEBACK.decode().rstrip("\n"))
        self.assertEqual(traceback["message"], "[worker 7] " + TRACEBACK.decode().rstrip("\n"))
        self.assertEqual(after["line"], "next")


class JSONLinesObserverTests(SynchronousTestCase):
    """What twistd's C{--logger=recycler.logs.jsonLinesObserver} gets."""

    def test_twistdLoggerName(self) -> None:
        """The name resolves to a callable taking no argument that returns an ILogObserver."""
        factory = namedAny("recycler.logs.jsonLinesObserver")
        self.assertTrue(ILogObserver.providedBy(factory()))

    def test_writesToStandardOutputFlushedPerLine(self) -> None:
        """Called with no argument, it writes to sys.stdout as it was then, flushed each line."""
        out = Recorder()
        self.patch(sys, "stdout", out)
        observer = jsonLinesObserver()
        self.patch(sys, "stdout", io.StringIO())  # as twistd redirects it into the log
        publisher = LogPublisher(observer)
        Logger(observer=publisher).info("one")
        Logger(observer=publisher).info("two")
        self.assertEqual([r["message"] for r in records(out)], ["one", "two"])
        self.assertEqual(out.flushes, 2)


class AccessLogPathTests(SynchronousTestCase):
    """C{--access-log} is checked when the master starts, with a one-line reason."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)

    def test_stdout(self) -> None:
        """C{-} stays C{-}."""
        self.assertEqual(accessLogPath("-"), "-")

    def test_newFileIsAbsoluteAndNotCreated(self) -> None:
        """A new file's path is made absolute; the workers create it (as their own user)."""
        self.patch(os, "getcwd", lambda: self.directory)
        self.assertEqual(accessLogPath("access.log"), os.path.join(self.directory, "access.log"))
        self.assertFalse(os.path.exists(os.path.join(self.directory, "access.log")))

    def test_existingFileIsKept(self) -> None:
        """An existing file is accepted as it is, its content untouched."""
        path = os.path.join(self.directory, "access.log")
        with open(path, "w") as f:
            f.write("old line\n")
        self.assertEqual(accessLogPath(path), path)
        with open(path) as f:
            self.assertEqual(f.read(), "old line\n")

    def test_unusablePaths(self) -> None:
        """A directory, a missing directory, an empty value, a FIFO nobody reads: refused."""
        fifo = os.path.join(self.directory, "fifo")
        os.mkfifo(fifo)
        missing = os.path.join(self.directory, "no", "access.log")
        for value, reason in [
            (self.directory, f"cannot append to {self.directory}: Is a directory"),
            (missing, f"cannot create {missing}: no directory {os.path.dirname(missing)}"),
            (" ", "expected a file path, or - for the master's log"),
            (fifo, f"cannot append to {fifo}: No such device or address"),
        ]:
            with self.assertRaises(ValueError) as raised:
                accessLogPath(value)
            self.assertEqual(str(raised.exception), reason)


class AccessLogOptionTests(SynchronousTestCase):
    """C{twistd recycler --access-log} reaches every worker's command line."""

    def workerArgs(self, *argv: str) -> list[str]:
        options = Options()
        options.parseOptions(list(argv))
        return list(workerCommand(options, Listeners()).args)

    def test_passedToWorkers(self) -> None:
        """The absolute path (or C{-}) goes to the workers; without the option, nothing."""
        args = self.workerArgs("--access-log", "access.log")
        self.assertEqual(args[args.index("--access-log") + 1], os.path.abspath("access.log"))
        args = self.workerArgs("--access-log", "-")
        self.assertEqual(args[args.index("--access-log") + 1], "-")
        self.assertNotIn("--access-log", self.workerArgs())

    def test_badPathIsAUsageError(self) -> None:
        """A path the workers could not append to is refused, naming the option."""
        with self.assertRaises(usage.UsageError) as raised:
            Options().parseOptions(["--access-log", "/no/such/dir/access.log"])
        self.assertEqual(
            str(raised.exception), "--access-log: cannot create /no/such/dir/access.log: "
            "no directory /no/such/dir"
        )  # fmt: skip


class Listeners:
    """Listening sockets already bound on fd 9."""

    def filenos(self) -> list[int]:
        return [9]
