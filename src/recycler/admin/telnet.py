# -*- test-case-name: tests.admin.test_telnet -*-
"""The telnet commands (RFC 854) a client mixes into its text, and the answers they need.

A real C{telnet} sends commands among the bytes it types: option negotiation
and, when the operator presses Ctrl-C, C{IAC IP} then C{IAC DO TIMING-MARK},
after which it shows nothing more until the server answers the timing mark
(RFC 860). L{TelnetFilter} takes every command out of the input and answers those
that need it, so that the admin port speaks plain lines to C{nc} and to C{telnet}.
"""

from __future__ import annotations

from collections.abc import Callable

IAC, DONT, DO, WONT, WILL, SB, IP, SE = 255, 254, 253, 252, 251, 250, 244, 240
"""The telnet command bytes the filter acts on (RFC 854)."""

TIMING_MARK = 6
"""The TIMING-MARK option (RFC 860): the client asks whether its input was processed."""

INTERRUPT = b"\x03"
"""Ctrl-C: what L{TelnetFilter} turns C{IAC IP} (interrupt process) into."""

_DATA, _COMMAND, _OPTION, _SUBNEGOTIATION, _SUBNEGOTIATION_IAC = range(5)
"""Where the filter is: in the text, after C{IAC}, after C{IAC DO} (and the like),
inside C{IAC SB ... IAC SE}, after an C{IAC} inside it."""


class TelnetFilter:
    """
    Takes telnet commands out of a client's input, keeping its state between chunks.

    C{IAC IAC} is one 0xFF byte of text; C{IAC IP} becomes L{INTERRUPT};
    C{IAC DO TIMING-MARK} is answered C{IAC WILL TIMING-MARK} at once (so that
    telnet shows the server's output again); any other option the client asks the server to use
    (C{DO}) or offers to use itself (C{WILL}) is refused (C{WONT}, C{DONT}), and
    C{DONT} and C{WONT} need no answer (nothing is ever on). Subnegotiations
    and the other commands (C{NOP}, C{AYT}, C{GA}...) are dropped.
    """

    def __init__(self, answer: Callable[[bytes], None]) -> None:
        """
        @param answer: Sends negotiation bytes back to the client.
        """
        self._answer = answer
        self._state = _DATA
        self._verb = 0

    def feed(self, data: bytes) -> bytes:
        """The text of C{data}: its telnet commands removed, C{IAC IP} as L{INTERRUPT}."""
        text = bytearray()
        at, end = 0, len(data)
        while at < end:
            state = self._state
            if state in (_DATA, _SUBNEGOTIATION):
                # Text (or a subnegotiation's bytes) up to the next IAC, at C speed.
                found = data.find(IAC, at)
                if state == _DATA:
                    text += data[at : end if found < 0 else found]
                if found < 0:
                    break
                self._state = _COMMAND if state == _DATA else _SUBNEGOTIATION_IAC
                at = found + 1
                continue
            byte = data[at]
            at += 1
            if state == _COMMAND:
                self._state = _DATA
                if byte == IAC:
                    text.append(IAC)
                elif byte == IP:
                    text += INTERRUPT
                elif byte in (DO, DONT, WILL, WONT):
                    self._state, self._verb = _OPTION, byte
                elif byte == SB:
                    self._state = _SUBNEGOTIATION
            elif state == _OPTION:
                self._state = _DATA
                self._negotiate(self._verb, byte)
            else:
                self._state = _DATA if byte == SE else _SUBNEGOTIATION
        return bytes(text)

    def _negotiate(self, verb: int, option: int) -> None:
        if verb == DO:
            self._answer(bytes((IAC, WILL if option == TIMING_MARK else WONT, option)))
        elif verb == WILL:
            self._answer(bytes((IAC, DONT, option)))
