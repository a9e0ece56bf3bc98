# -*- test-case-name: tests.master.test_handle -*-
"""A worker's output pipes, read by the master one line at a time."""

from __future__ import annotations

from collections.abc import Callable

MAX_LINE = 64 * 1024
"""Longest line read from a worker's pipes; longer ones are handed over in pieces."""


class Lines:
    """One pipe of a worker cut into lines; an over-long line is handed over in pieces."""

    def __init__(self, onLine: Callable[[bytes], None]) -> None:
        self._onLine = onLine
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            self._hand(line.rstrip(b"\r"))
        while len(self._buffer) > MAX_LINE:
            self._onLine(self._buffer[:MAX_LINE])
            self._buffer = self._buffer[MAX_LINE:]

    def flush(self) -> None:
        """Hand over a last line that had no newline."""
        rest, self._buffer = self._buffer, b""
        if rest:
            self._hand(rest.rstrip(b"\r"))

    def _hand(self, line: bytes) -> None:
        while len(line) > MAX_LINE:
            self._onLine(line[:MAX_LINE])
            line = line[MAX_LINE:]
        self._onLine(line)
