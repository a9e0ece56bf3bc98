# -*- test-case-name: tests.admin.test_connection -*-
"""A line-at-a-time connection that never buffers without bound, nor drops a reply.

L{LineConnection} is the transport side of an admin client, below the commands
(L{recycler.admin.protocol}): it reads the client's lines (telnet commands taken
out, see L{recycler.admin.lines}) and acts on one at a time, and it stops
reading while it must wait, between two lines:

- while the transport's write buffer is full: a client that does not read its
  replies cannot grow the master's memory (it is its own output's producer);
- while an answer is held back (L{hold}).

When the client half-closes (C{nc -N}, C{nc -q1}), every line it sent is still
answered, the last one even without its LF: Twisted would otherwise drop the
replies not yet written when it sees the end of the input.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IPushProducer,
)
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from recycler.admin.lines import InputLines, LineTooLong, Mark

MAX_LINE = 4096
"""The longest command line accepted, in bytes; a longer one closes the connection."""

ABORT_AFTER = 5.0
"""Seconds a closing connection gets to take its last replies before it is aborted."""


@implementer(IPushProducer, IHalfCloseableProtocol)
class LineConnection(Protocol):
    """
    Reads lines and writes lines; subclasses act on them (L{lineReceived},
    L{interrupted}) and decide what the end of the input means (L{inputEnded}).

    @ivar outputPaused: Whether the transport's write buffer is full.
    """

    maxLength = MAX_LINE
    callLater: Callable[..., IDelayedCall]
    """Schedules a call (the subclass gives its clock's)."""

    def __init__(self) -> None:
        self.outputPaused = False
        self._producing = False
        self._held: IDelayedCall | None = None
        self._aborting: IDelayedCall | None = None
        self._input = InputLines(self.maxLength, self._answerTelnet)

    def startProducing(self) -> None:
        """Be the producer of the transport's output: read only while it can take more."""
        self.transport.registerProducer(self, True)
        self._producing = True

    # What subclasses do

    def lineReceived(self, line: bytes) -> None:
        """Act on one line, without its LF (and CR)."""
        raise NotImplementedError()

    def interrupted(self) -> None:
        """The client pressed Ctrl-C: the partial line before it is dropped already."""
        raise NotImplementedError()

    def lineLengthExceeded(self) -> None:
        """The client sent a line longer than L{maxLength}."""
        raise NotImplementedError()

    def inputEnded(self) -> None:
        """The client half-closed, and every line it sent was acted on."""
        raise NotImplementedError()

    # Input

    def dataReceived(self, data: bytes) -> None:
        if self.transport.disconnecting:
            return
        self._input.feed(data)
        self._readLines()

    def readConnectionLost(self) -> None:
        """The client will send nothing more: act on what it sent, then L{inputEnded}."""
        self._input.end()
        self._readLines()

    def writeConnectionLost(self) -> None:
        """Never called: the write side is only closed with the whole connection."""

    def _readLines(self) -> None:
        """Act on the client's lines, one at a time, until none is left or it must wait."""
        while not (self._held is not None or self.outputPaused or self.transport.disconnecting):
            try:
                item = self._input.next()
            except LineTooLong:
                self.lineLengthExceeded()
                return
            if item is None:
                if self._input.ended:
                    self.inputEnded()
                return
            if item is Mark.INTERRUPT:
                self.interrupted()
            else:
                self.lineReceived(item)

    def hold(self, delay: float, then: Callable[[], None]) -> None:
        """Read nothing for C{delay} seconds, then call C{then} and go on reading."""
        self.transport.pauseProducing()
        self._held = self.callLater(delay, self._release, then)

    def _release(self, then: Callable[[], None]) -> None:
        self._held = None
        then()
        if not (self.outputPaused or self.transport.disconnecting):
            self.transport.resumeProducing()
        self._readLines()

    # IPushProducer: flow control of the output

    def pauseProducing(self) -> None:
        """The transport's write buffer is full: stop reading commands."""
        self.outputPaused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """The client caught up: read commands again."""
        self.outputPaused = False
        if self._held is None:
            self.transport.resumeProducing()
        self._readLines()

    def stopProducing(self) -> None:
        """The connection is going away; L{connectionLost} cleans up."""

    # Output and the end

    def send(self, line: str) -> None:
        """Write one line (UTF-8, LF), unless the connection is closing."""
        self._answerTelnet(line.encode("utf-8", "replace") + b"\n")

    def _answerTelnet(self, data: bytes) -> None:
        if not self.transport.disconnecting:
            self.transport.write(data)

    def peerHost(self) -> str:
        """The client's IP address, or its whole address if it has none (a UNIX socket)."""
        peer: IAddress = self.transport.getPeer()
        host = getattr(peer, "host", None)
        return str(peer) if host is None else str(host)

    def peer(self) -> str:
        """The client's address, C{host:port}, for the log."""
        port = getattr(self.transport.getPeer(), "port", None)
        return self.peerHost() if port is None else f"{self.peerHost()}:{port}"

    def close(self) -> None:
        """
        Close once the replies are written. The producer is unregistered first:
        while it is registered and paused, Twisted would resume it when the
        buffer drains instead of closing.
        """
        self._cancelHold()
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()
        if self._aborting is None:  # a client that never reads would keep it open
            self._aborting = self.callLater(ABORT_AFTER, self.transport.abortConnection)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._cancelHold()
        if self._aborting is not None and self._aborting.active():
            self._aborting.cancel()
        self._aborting = None

    def _cancelHold(self) -> None:
        if self._held is not None:
            self._held.cancel()
            self._held = None
