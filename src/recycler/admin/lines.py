# -*- test-case-name: tests.admin.test_lines -*-
"""A client's input as the admin port reads it: lines, Ctrl-C, and the end of input.

L{InputLines} buffers what the client sent (telnet commands taken out by
L{recycler.admin.telnet.TelnetFilter}) and hands it out one item at a time, so
that the protocol can stop between two lines (to delay an answer, or while the
client does not read its replies) and go on later where it stopped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from recycler.admin.telnet import INTERRUPT, TelnetFilter


class Mark(enum.Enum):
    """What the input holds besides lines."""

    INTERRUPT = "interrupt"
    """Ctrl-C, or telnet's interrupt process: the partial line before it is dropped."""


class LineTooLong(Exception):
    """A line (or the start of one) longer than the limit."""


class InputLines:
    """
    The lines a client sent, split at LF (a CR before it is dropped).

    @ivar ended: The client sent everything (it half-closed): the text after
        the last LF, if any, is the last line.
    """

    def __init__(self, maxLength: int, answer: Callable[[bytes], None]) -> None:
        """
        @param maxLength: The longest line, in bytes, without its end.
        @param answer: Sends telnet negotiation bytes back to the client.
        """
        self.maxLength = maxLength
        self.ended = False
        self._telnet = TelnetFilter(answer)
        self._buffer = b""
        self._start = 0

    def feed(self, data: bytes) -> None:
        """Add bytes the client sent."""
        self._buffer = self._buffer[self._start :] + self._telnet.feed(data)
        self._start = 0

    def end(self) -> None:
        """The client will send nothing more."""
        self.ended = True

    @property
    def partial(self) -> bool:
        """Whether the client sent the start of a line and not its end yet."""
        return self._start < len(self._buffer)

    def next(self) -> bytes | Mark | None:
        """
        The next line, or L{Mark.INTERRUPT}, or L{None} until a whole line is in.

        @raise LineTooLong: The next line is longer than C{maxLength}.
        """
        buffer, start = self._buffer, self._start
        newline = buffer.find(b"\n", start)
        end = len(buffer) if newline < 0 else newline
        interrupt = buffer.find(INTERRUPT, start, end)
        if interrupt >= 0:
            self._start = interrupt + 1
            return Mark.INTERRUPT
        if end - start > self.maxLength:
            raise LineTooLong()
        if newline < 0 and not (self.ended and self.partial):
            return None
        self._start = end + 1
        return buffer[start:end].removesuffix(b"\r")
