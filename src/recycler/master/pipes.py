# -*- test-case-name: tests.master.test_handle -*-
"""A worker's output pipes, read by the master one line at a time."""

from __future__ import annotations

from collections.abc import Callable

from twisted.protocols.basic import LineOnlyReceiver

MAX_LINE = 64 * 1024
"""Longest line read from a worker's pipes; longer ones are handed over in pieces."""


class _Pipe:
    """What L{LineOnlyReceiver} asks of its transport; a child's pipe closes by itself."""

    disconnecting = False


class Lines(LineOnlyReceiver):
    """
    One pipe of a worker cut into lines (as procmon's C{LineLogger}); an
    over-long line is handed over in pieces rather than dropped.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def __init__(self, onLine: Callable[[bytes], None]) -> None:
        self._onLine = onLine
        self.transport = _Pipe()

    def lineReceived(self, line: bytes) -> None:
        self._onLine(line.rstrip(b"\r"))

    def lineLengthExceeded(self, line: bytes) -> None:
        self._buffer = b""
        while line:
            piece, line = line[: self.MAX_LENGTH], line[self.MAX_LENGTH :]
            if b"\n" in piece:
                self.dataReceived(piece + line)
                return
            self._onLine(piece)

    def flush(self) -> None:
        """Hand over a last line that had no newline."""
        rest, self._buffer = self._buffer, b""
        if rest:
            self._onLine(rest.rstrip(b"\r"))
