# -*- test-case-name: tests.worker.test_drain_http -*-
"""Graceful drain for twisted.web: finish in-flight requests, drop no connection.

The recipe measured to give zero client errors (docs/architecture.md):

 1. the worker stops accepting (done by the caller);
 2. every response written from now on carries C{Connection: close}, and each
    connection closes right after its current response;
 3. connections that are still idle C{idleGrace} after the drain started (or
    after their last response) are closed: one that was accepted a moment ago
    may have its first request on the wire already;
 4. whatever is left at C{deadline} is aborted.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.web.http import HTTPChannel, datetimeToLogString
from twisted.web.server import Request, Site
from zope.interface import implementer

from recycler.worker.access import AccessLogFile
from recycler.worker.drain import Drain, IDrainable


class DrainingHTTPChannel(HTTPChannel):
    """An HTTP/1.1 channel that its L{DrainableSite} tracks and can drain."""

    site: DrainableSite

    def connectionMade(self) -> None:
        super().connectionMade()
        self.site.channels.add(self)

    def connectionLost(self, reason) -> None:
        super().connectionLost(reason)
        self.site.channelClosed(self)

    def checkPersistence(self, request: Request, version: bytes) -> bool:
        if self.site.draining:
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])
            return False
        return super().checkPersistence(request, version)

    def requestDone(self, request: Request) -> None:
        self.site.served += 1
        super().requestDone(request)
        if self.site.draining and not self.requests and not self.transport.disconnecting:
            self.site.closeWhenIdle(self)

    def stopAfterCurrentRequest(self) -> None:
        """
        Answer what is in progress with C{Connection: close}, then close.

        A connection whose response has already started keeps its keep-alive
        promise: it is closed once idle (or answers its next request with
        C{Connection: close}). An idle connection stays persistent too:
        Twisted drops requests that arrive on a non-persistent connection.
        """
        started = any(request.startedWriting for request in self.requests)
        for request in self.requests:
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"connection", [b"close"])
        if self.requests and not started:
            self.persistent = False


@implementer(IDrainable)
class DrainableSite(Site):
    """
    A L{Site} that counts requests and can drain its connections gracefully.

    Access logging is off unless it is given an C{accessLog} to write its
    lines to (C{--access-log}): at tens of thousands of requests a second the
    lines would cost more than the requests.

    @ivar channels: Open connections.
    @ivar served: Requests answered so far.
    """

    protocol = DrainingHTTPChannel
    noisy = False

    def __init__(self, resource, *, accessLog: AccessLogFile | None = None, **kwargs) -> None:
        super().__init__(resource, **kwargs)
        self.accessLog = accessLog
        self.channels: set[DrainingHTTPChannel] = set()
        self.served = 0
        self._drain: Drain | None = None
        self._idleGrace = 0.0
        self._idleTimers: dict[DrainingHTTPChannel, IDelayedCall] = {}

    @property
    def inFlight(self) -> int:
        """Requests received and not yet answered."""
        return sum(len(channel.requests) for channel in self.channels)

    @property
    def draining(self) -> bool:
        """Whether L{drain} has been called."""
        return self._drain is not None

    def log(self, request: Request) -> None:
        """
        Write C{request}'s line (twisted.web's combined log format) to the
        access log, if there is one: in one write, and also after the ports
        stopped (the master's death stops them before the drain).
        """
        if self.accessLog is not None:
            now = datetimeToLogString(self.reactor.seconds())  # not _logDateTime: it stops
            self.accessLog.write(self._logFormatter(now, request) + "\n")  # with the ports

    def drain(self, idleGrace: float, deadline: float) -> Deferred[None]:
        """
        Close every connection gracefully (see the module docstring).

        @return: fires when no connection is left.
        """
        if self._drain is None:
            self._idleGrace = idleGrace
            self._drain = Drain(self.reactor, deadline, self.channels)
            for channel in list(self.channels):
                channel.stopAfterCurrentRequest()
                if not channel.requests:
                    self.closeWhenIdle(channel)
        return self._drain.wait()

    def closeWhenIdle(self, channel: DrainingHTTPChannel) -> None:
        """Close C{channel} if it is still idle after the idle grace."""
        previous = self._idleTimers.pop(channel, None)
        if previous is not None and previous.active():
            previous.cancel()
        self._idleTimers[channel] = self.reactor.callLater(
            self._idleGrace, self._closeIfIdle, channel
        )

    def channelClosed(self, channel: DrainingHTTPChannel) -> None:
        """Called by a channel when its connection is gone."""
        self.channels.discard(channel)
        timer = self._idleTimers.pop(channel, None)
        if timer is not None and timer.active():
            timer.cancel()
        if self._drain is not None:
            self._drain.check()

    def _closeIfIdle(self, channel: DrainingHTTPChannel) -> None:
        self._idleTimers.pop(channel, None)
        if not channel.requests and not channel.transport.disconnecting:
            channel.loseConnection()
