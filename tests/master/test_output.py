"""Tests of L{recycler.master.output}: a worker's stdout and stderr in the master's log."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.output import MAX_TRACEBACK_LINES, QUIET_WAIT, OutputRelay

PYTHON_TRACEBACK = b"""\
Traceback (most recent call last):
  File "/srv/app.py", line 3, in <module>
    import missing
  File "/srv/missing.py", line 1
    syntax error(
ValueError: first

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app.py", line 5, in <module>
    raise RuntimeError("second")
RuntimeError: second
"""
LAST_TRACEBACK = PYTHON_TRACEBACK[PYTHON_TRACEBACK.rindex(b"Traceback") :]


class OutputRelayTests(SynchronousTestCase):
    """Lines become info events; a traceback becomes one error event."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.clock = Clock()
        self.relay = OutputRelay(self.clock, Logger(observer=self.events.append), 7, "stderr")

    def relayed(self) -> list[tuple[LogLevel, str]]:
        return [(e["log_level"], formatEvent(e)) for e in self.events]

    def test_linesAreInfoEvents(self) -> None:
        """Each line is one info event with the worker id and the stream."""
        self.relay.dataReceived(b"one\ntwo\n")
        self.assertEqual(
            self.relayed(), [(LogLevel.info, "[worker 7] one"), (LogLevel.info, "[worker 7] two")]
        )
        self.assertEqual({(e["workerId"], e["stream"]) for e in self.events}, {(7, "stderr")})

    def test_aPythonTracebackIsOneErrorEvent(self) -> None:
        """A chained traceback, up to its last exception line, is one error event."""
        self.relay.dataReceived(b"before\n")
        for start in range(0, len(PYTHON_TRACEBACK), 17):  # in pieces, as a pipe delivers it
            self.relay.dataReceived(PYTHON_TRACEBACK[start : start + 17])
        self.relay.dataReceived(b"after\n")
        self.relay.dataReceived(LAST_TRACEBACK)  # the last one alone: ended after a moment
        self.clock.advance(QUIET_WAIT)
        self.assertEqual(
            self.relayed(),
            [
                (LogLevel.info, "[worker 7] before"),
                (LogLevel.error, "[worker 7] " + PYTHON_TRACEBACK.decode().rstrip("\n")),
                (LogLevel.info, "[worker 7] after"),
                (LogLevel.error, "[worker 7] " + LAST_TRACEBACK.decode().rstrip("\n")),
            ],
        )

    def test_aFaulthandlerDumpIsOneErrorEventAtTheEnd(self) -> None:
        """A real faulthandler dump (which has no last line) is one event when the pipe closes."""
        dump = subprocess.run(
            [sys.executable, "-c", "import faulthandler; faulthandler.dump_traceback()"],
            capture_output=True,
            check=True,
        ).stderr
        self.relay.dataReceived(b"Fatal Python error: Aborted\n\n" + dump)
        self.assertEqual(self.events, [])
        self.relay.flush()
        [(level, text)] = self.relayed()
        self.assertEqual(level, LogLevel.error)
        self.assertIn("Fatal Python error: Aborted", text)
        self.assertIn('File "<string>", line 1', text)

    def test_aTracebackEndsWhenTheStreamIsQuiet(self) -> None:
        """
        C{print_exc(); print()}, then nothing for a while: the traceback is
        logged after a moment, and a later line is not taken into it.
        """
        self.relay.dataReceived(LAST_TRACEBACK + b"\n")
        self.assertEqual(self.events, [])
        self.clock.advance(QUIET_WAIT)
        self.relay.dataReceived(b"GET / 200\n")
        self.assertEqual(
            self.relayed(),
            [
                (LogLevel.error, "[worker 7] " + LAST_TRACEBACK.decode().rstrip("\n")),
                (LogLevel.info, "[worker 7] GET / 200"),
            ],
        )

    def test_aLineAfterTheExceptionLineIsNotPartOfIt(self) -> None:
        """After the exception line and a blank line, only a chained traceback continues it."""
        self.relay.dataReceived(LAST_TRACEBACK + b"\n  indented output\n")
        self.assertEqual([level for level, _ in self.relayed()], [LogLevel.error, LogLevel.info])

    def test_anEndlessTracebackIsCut(self) -> None:
        """A traceback never ends (say, a loop printing frames): it is logged in parts."""
        self.relay.dataReceived(b"Traceback (most recent call last):\n")
        self.relay.dataReceived(b'  File "x.py", line 1\n' * (2 * MAX_TRACEBACK_LINES))
        self.relay.dataReceived(b"Error: at last\n")
        self.clock.advance(QUIET_WAIT)
        self.assertEqual([level for level, _ in self.relayed()], [LogLevel.error] * 3)
