"""Unit tests of the graceful HTTP drain, over in-memory transports and a clock."""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET

from recycler.demo import DelayedAnswer
from recycler.worker.drain.http import DrainableSite, DrainingHTTPChannel

REQUEST = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"


class Connection:
    """One client connection to the site."""

    def __init__(self, site: DrainableSite) -> None:
        self.channel: DrainingHTTPChannel = site.buildProtocol(IPv4Address("TCP", "1.2.3.4", 5))
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes = REQUEST) -> None:
        self.channel.dataReceived(data)

    def response(self) -> bytes:
        return self.transport.value()

    def closeIfAsked(self) -> None:
        """Play the kernel: a transport the server closed reports connectionLost."""
        if self.transport.disconnecting:
            self.channel.connectionLost(Failure(ConnectionDone()))


def makeSite(delay: float = 1.0) -> tuple[DrainableSite, Clock]:
    clock = Clock()
    return DrainableSite(DelayedAnswer(delay, b"done\n", clock), reactor=clock), clock


def test_countsServedAndInFlight():
    """The site counts requests answered and requests still in progress."""
    site, clock = makeSite()
    first, second = Connection(site), Connection(site)
    first.send()
    second.send()
    assert (site.served, site.inFlight) == (0, 2)
    clock.advance(1)
    assert (site.served, site.inFlight) == (2, 0)


def test_inFlightRequestFinishesWithConnectionClose():
    """A request in progress when the drain starts is answered, with Connection: close."""
    site, clock = makeSite()
    connection = Connection(site)
    connection.send()
    drained = site.drain(idleGrace=1, deadline=30)
    clock.advance(1)
    assert b"done\n" in connection.response()
    assert b"Connection: close" in connection.response()
    assert connection.transport.disconnecting
    connection.closeIfAsked()
    assert drained.called


def test_idleConnectionGetsAGracePeriod():
    """An idle keep-alive connection stays open for the grace period, then is closed."""
    site, clock = makeSite()
    connection = Connection(site)
    drained = site.drain(idleGrace=1, deadline=30)
    clock.advance(0.9)
    assert not connection.transport.disconnecting
    clock.advance(0.1)
    assert connection.transport.disconnecting
    connection.closeIfAsked()
    assert drained.called


def test_requestDuringGraceIsServedAndCloses():
    """A request arriving on an idle connection during the grace is answered, then closed."""
    site, clock = makeSite(delay=0)
    connection = Connection(site)
    site.drain(idleGrace=1, deadline=30)
    clock.advance(0.5)
    connection.send()
    assert b"done\n" in connection.response()
    assert b"Connection: close" in connection.response()
    assert connection.transport.disconnecting


def test_keepAliveIsUntouchedWhenNotDraining():
    """Before any drain, HTTP/1.1 connections stay open between requests."""
    site, _ = makeSite(delay=0)
    connection = Connection(site)
    connection.send()
    assert b"done\n" in connection.response()
    assert b"Connection: close" not in connection.response()
    assert not connection.transport.disconnecting


class Streaming(DelayedAnswer):
    """Starts its response at once, finishes it C{delay} seconds later."""

    def render(self, request):
        request.write(b"part ")
        self._reactor().callLater(self.delay, self._answer, request)
        return NOT_DONE_YET


def test_startedResponseKeepsItsKeepAlive():
    """
    A response already started when the drain begins keeps its keep-alive
    promise: the connection is closed only once idle for the grace after it.
    """
    clock = Clock()
    site = DrainableSite(Streaming(1.0, b"done\n", clock), reactor=clock)
    connection = Connection(site)
    connection.send()
    site.drain(idleGrace=1, deadline=30)
    clock.advance(1)
    assert connection.response().endswith(b"done\n\r\n0\r\n\r\n"), "the whole chunked reply"
    assert b"Connection: close" not in connection.response()
    assert not connection.transport.disconnecting
    clock.advance(1)
    assert connection.transport.disconnecting


def test_deadlineAbortsWhatIsLeft():
    """Connections still busy at the deadline are aborted, and the drain completes."""
    site, clock = makeSite(delay=100)
    connection = Connection(site)
    connection.send()
    drained = site.drain(idleGrace=1, deadline=5)
    clock.advance(4.9)
    assert not connection.transport.disconnected
    clock.advance(0.1)
    assert connection.transport.disconnected, "aborted"
    connection.closeIfAsked()
    assert drained.called
    assert clock.getDelayedCalls() == []


def test_drainWithNoConnectionsIsImmediate():
    """Draining an idle site completes at once and leaves no timer behind."""
    site, clock = makeSite()
    assert site.drain(idleGrace=1, deadline=5).called
    assert clock.getDelayedCalls() == []


def test_drainIsIdempotent():
    """A second drain call waits for the same completion."""
    site, clock = makeSite()
    connection = Connection(site)
    first = site.drain(idleGrace=1, deadline=5)
    second = site.drain(idleGrace=1, deadline=5)
    clock.advance(1)
    connection.closeIfAsked()
    assert first.called and second.called


@pytest.mark.parametrize("enabled", [False, True])
def test_accessLogIsOffByDefault(enabled):
    """Requests are access-logged only when asked for."""
    clock = Clock()
    site = DrainableSite(DelayedAnswer(0, b"done\n", clock), reactor=clock, accessLog=enabled)
    logged = []
    site._logFile = type("F", (), {"write": lambda self, line: logged.append(line)})()
    Connection(site).send()
    assert bool(logged) is enabled
