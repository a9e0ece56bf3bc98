# -*- test-case-name: tests.master.test_output -*-
"""A worker's stdout and stderr, relayed into the master's log.

Each line becomes one info event tagged with the worker's id and stream, except
a traceback: Python's (C{Traceback (most recent call last):} down to the
exception line) or faulthandler's (C{Fatal Python error:}, C{Thread 0x...},
C{Current thread 0x...} and their frames) is gathered into one error event, so
that it reads as one record in any log, not one record per line.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from recycler.master.pipes import Lines

TRACEBACK_STARTS = (
    "Traceback (most recent call last):",
    "Fatal Python error:",
    "Thread 0x",
    "Current thread 0x",
)
"""Lines that open a traceback."""

CHAIN_MARKERS = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
"""What may follow an exception line in the same traceback (after a blank line)."""

CONTINUATIONS = (*TRACEBACK_STARTS, *CHAIN_MARKERS, "Extension modules:")
"""Unindented lines that do not end a traceback."""

MAX_TRACEBACK_LINES = 500
"""A traceback longer than this is logged in parts."""

QUIET_WAIT = 0.05
"""Seconds of silence on the stream after which a traceback is over (a chained one follows
at once; faulthandler's dump has no last line)."""


class OutputRelay:
    """One stream (stdout or stderr) of one worker, relayed line by line to C{log}."""

    def __init__(self, clock: IReactorTime, log: Logger, workerId: int, stream: str) -> None:
        self._clock = clock
        self._ended: IDelayedCall | None = None
        self._log = log
        self._workerId = workerId
        self._stream = stream
        self._collecting = self._afterException = False
        self._traceback: list[str] = []
        self._lines = Lines(self._line)

    def dataReceived(self, data: bytes) -> None:
        """Bytes the worker wrote."""
        self._lines.dataReceived(data)

    def flush(self) -> None:
        """The pipe is closing: relay what is left, a last line without newline included."""
        self._lines.flush()
        self._endTraceback()

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if self._afterException:  # only a blank line or a chained traceback continues
            if line and not line.startswith(CHAIN_MARKERS):
                self._endTraceback()
            else:
                self._afterException = not line
                self._collect(line)
                return
        if self._collecting:
            self._collect(line)
            self._afterException = not (
                line[:1].isspace() or not line or line.startswith(CONTINUATIONS)
            )
        elif line.startswith(TRACEBACK_STARTS):
            self._collecting = True
            self._collect(line)
        else:
            self._log.info(
                "[worker {workerId}] {line}",
                workerId=self._workerId,
                line=line,
                stream=self._stream,
            )

    def _collect(self, line: str) -> None:
        """One more line of a traceback, which ends once its stream is quiet for a moment."""
        self._traceback.append(line)
        if len(self._traceback) >= MAX_TRACEBACK_LINES:
            self._logTraceback()
        if self._ended is not None and self._ended.active():
            self._ended.cancel()
        self._ended = self._clock.callLater(QUIET_WAIT, self._endTraceback)

    def _endTraceback(self) -> None:
        if self._ended is not None and self._ended.active():
            self._ended.cancel()
        self._ended = None
        self._logTraceback()
        self._collecting = self._afterException = False

    def _logTraceback(self) -> None:
        if self._traceback:
            text, self._traceback = "\n".join(self._traceback).rstrip("\n"), []
            self._log.error(
                "[worker {workerId}] {traceback}",
                workerId=self._workerId,
                traceback=text,
                stream=self._stream,
            )
