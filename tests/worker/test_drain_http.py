"""Tests of L{recycler.worker.drain.http}: the graceful HTTP drain, in memory with a clock."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface.verify import verifyObject

from recycler.demo import DelayedAnswer
from recycler.worker.drain import IDrainable
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


class LogFile:
    """Stands in for the site's access log file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)


def makeSite(delay: float = 1.0) -> tuple[DrainableSite, Clock]:
    clock = Clock()
    return DrainableSite(DelayedAnswer(delay, b"done\n", clock), reactor=clock), clock


class Streaming(DelayedAnswer):
    """Starts its response at once, finishes it C{delay} seconds later."""

    def render(self, request: Request) -> int:
        request.write(b"part ")
        self._reactor().callLater(self.delay, self._answer, request)
        return NOT_DONE_YET


class DrainableSiteTests(SynchronousTestCase):
    """L{DrainableSite} counts its requests and drains without dropping one."""

    def test_interface(self) -> None:
        """The site is an L{IDrainable}."""
        site, _ = makeSite()
        self.assertTrue(verifyObject(IDrainable, site))

    def test_countsServedAndInFlight(self) -> None:
        """The site counts requests answered and requests still in progress."""
        site, clock = makeSite()
        first, second = Connection(site), Connection(site)
        first.send()
        second.send()
        self.assertEqual((site.served, site.inFlight), (0, 2))
        clock.advance(1)
        self.assertEqual((site.served, site.inFlight), (2, 0))

    def test_inFlightRequestFinishesWithConnectionClose(self) -> None:
        """A request in progress when the drain starts is answered, with Connection: close."""
        site, clock = makeSite()
        connection = Connection(site)
        connection.send()
        drained = site.drain(idleGrace=1, deadline=30)
        clock.advance(1)
        self.assertIn(b"done\n", connection.response())
        self.assertIn(b"Connection: close", connection.response())
        self.assertTrue(connection.transport.disconnecting)
        self.assertNoResult(drained)
        connection.closeIfAsked()
        self.successResultOf(drained)

    def test_idleConnectionGetsAGracePeriod(self) -> None:
        """An idle keep-alive connection stays open for the grace period, then is closed."""
        site, clock = makeSite()
        connection = Connection(site)
        drained = site.drain(idleGrace=1, deadline=30)
        clock.advance(0.9)
        self.assertFalse(connection.transport.disconnecting)
        clock.advance(0.1)
        self.assertTrue(connection.transport.disconnecting)
        connection.closeIfAsked()
        self.successResultOf(drained)

    def test_requestDuringGraceIsServedAndCloses(self) -> None:
        """A request arriving on an idle connection during the grace is answered, then closed."""
        site, clock = makeSite(delay=0)
        connection = Connection(site)
        site.drain(idleGrace=1, deadline=30)
        clock.advance(0.5)
        connection.send()
        self.assertIn(b"done\n", connection.response())
        self.assertIn(b"Connection: close", connection.response())
        self.assertTrue(connection.transport.disconnecting)

    def test_keepAliveIsUntouchedWhenNotDraining(self) -> None:
        """Before any drain, HTTP/1.1 connections stay open between requests."""
        site, _ = makeSite(delay=0)
        connection = Connection(site)
        connection.send()
        self.assertIn(b"done\n", connection.response())
        self.assertNotIn(b"Connection: close", connection.response())
        self.assertFalse(connection.transport.disconnecting)
        self.assertFalse(site.draining)

    def test_startedResponseKeepsItsKeepAlive(self) -> None:
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
        self.assertTrue(
            connection.response().endswith(b"done\n\r\n0\r\n\r\n"), "the whole chunked reply"
        )
        self.assertNotIn(b"Connection: close", connection.response())
        self.assertFalse(connection.transport.disconnecting)
        clock.advance(1)
        self.assertTrue(connection.transport.disconnecting)

    def test_deadlineAbortsWhatIsLeft(self) -> None:
        """Connections still busy at the deadline are aborted, and the drain completes."""
        site, clock = makeSite(delay=100)
        connection = Connection(site)
        connection.send()
        drained = site.drain(idleGrace=1, deadline=5)
        clock.advance(4.9)
        self.assertFalse(connection.transport.disconnected)
        clock.advance(0.1)
        self.assertTrue(connection.transport.disconnected, "aborted")
        connection.closeIfAsked()
        self.successResultOf(drained)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_drainWithNoConnectionsIsImmediate(self) -> None:
        """Draining an idle site completes at once and leaves no timer behind."""
        site, clock = makeSite()
        self.successResultOf(site.drain(idleGrace=1, deadline=5))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_drainIsIdempotent(self) -> None:
        """A second drain call waits for the same completion."""
        site, clock = makeSite()
        connection = Connection(site)
        first = site.drain(idleGrace=1, deadline=5)
        second = site.drain(idleGrace=1, deadline=5)
        clock.advance(1)
        self.assertNoResult(first)
        connection.closeIfAsked()
        self.successResultOf(first)
        self.successResultOf(second)

    def test_accessLogIsOffByDefault(self) -> None:
        """Requests are access-logged only when asked for."""
        for enabled in [False, True]:
            clock = Clock()
            answer = DelayedAnswer(0, b"done\n", clock)
            accessLog = LogFile()
            site = DrainableSite(answer, reactor=clock, accessLog=accessLog if enabled else None)
            site._logFile = accessLog  # where Twisted's own Site.log would write
            Connection(site).send()
            self.assertEqual(bool(accessLog.lines), enabled)
