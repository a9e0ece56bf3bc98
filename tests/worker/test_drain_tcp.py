"""Tests of L{recycler.worker.drain.tcp}: the drain for plain protocol factories."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from recycler.worker.drain import IDrainable
from recycler.worker.drain.tcp import DrainableFactory

ADDRESS = IPv4Address("TCP", "127.0.0.1", 1234)


class Polite(Protocol):
    """Closes when asked to drain."""

    drained = False

    def drain(self) -> None:
        self.drained = True
        self.transport.loseConnection()


class Broken(Protocol):
    """Its drain() hook has a bug."""

    def drain(self) -> None:
        raise RuntimeError("bug in drain()")


def connect(factory: DrainableFactory) -> tuple[ProtocolWrapper, StringTransport]:
    wrapper = factory.buildProtocol(ADDRESS)
    transport = StringTransport()
    wrapper.makeConnection(transport)
    return wrapper, transport


def lose(wrapper: ProtocolWrapper) -> None:
    wrapper.connectionLost(Failure(ConnectionDone()))


class DrainableFactoryTests(SynchronousTestCase):
    """L{DrainableFactory} counts connections and waits for them to end."""

    def test_interface(self) -> None:
        """The factory is an L{IDrainable}."""
        factory = DrainableFactory(Factory.forProtocol(Protocol), Clock())
        self.assertTrue(verifyObject(IDrainable, factory))

    def test_countsConnections(self) -> None:
        """Open connections are in flight; closed ones count as served."""
        factory = DrainableFactory(Factory.forProtocol(Protocol), Clock())
        first, _ = connect(factory)
        connect(factory)
        self.assertEqual((factory.inFlight, factory.served), (2, 0))
        lose(first)
        self.assertEqual((factory.inFlight, factory.served), (1, 1))

    def test_drainWaitsForConnectionsToClose(self) -> None:
        """The drain fires only once the last connection has closed on its own."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Protocol), clock)
        wrapper, transport = connect(factory)
        drained = factory.drain(idleGrace=1, deadline=30)
        clock.advance(10)
        self.assertNoResult(drained)
        self.assertFalse(transport.disconnecting)
        lose(wrapper)
        self.successResultOf(drained)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_drainWithNoConnectionsIsImmediate(self) -> None:
        """Draining a factory without connections completes at once, leaving no timer."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Protocol), clock)
        self.successResultOf(factory.drain(idleGrace=1, deadline=30))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_drainHookIsCalled(self) -> None:
        """Protocols with a drain() method are asked to close politely."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Polite), clock)
        wrapper, transport = connect(factory)
        clock.advance(1)
        factory.drain(idleGrace=1, deadline=30)
        self.assertTrue(wrapper.wrappedProtocol.drained)
        self.assertTrue(transport.disconnecting)

    def test_aNewConnectionIsAskedOnceIdleGraceOld(self) -> None:
        """
        A connection accepted a moment ago may have its first message on the
        wire: its protocol is asked to drain only once it is C{idleGrace} old.
        """
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Polite), clock)
        clock.advance(10)
        old, _ = connect(factory)
        clock.advance(1.5)
        young, youngTransport = connect(factory)
        factory.drain(idleGrace=1, deadline=30)
        self.assertTrue(old.wrappedProtocol.drained)
        self.assertFalse(young.wrappedProtocol.drained)
        young.dataReceived(b"its first message")
        clock.advance(0.99)
        self.assertFalse(young.wrappedProtocol.drained)
        clock.advance(0.01)
        self.assertTrue(young.wrappedProtocol.drained)
        self.assertTrue(youngTransport.disconnecting)

    def test_aConnectionClosedBeforeItsTurnIsNotAsked(self) -> None:
        """A young connection that closes on its own is not asked to drain later."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Polite), clock)
        young, _ = connect(factory)
        protocol = young.wrappedProtocol
        drained = factory.drain(idleGrace=1, deadline=30)
        lose(young)
        self.successResultOf(drained)
        clock.advance(1)
        self.assertFalse(protocol.drained)

    def test_deadlineAborts(self) -> None:
        """Connections still open at the deadline are aborted."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Protocol), clock)
        wrapper, transport = connect(factory)
        drained = factory.drain(idleGrace=1, deadline=5)
        clock.advance(4.9)
        self.assertFalse(transport.disconnected)
        clock.advance(0.1)
        self.assertTrue(transport.disconnected)
        lose(wrapper)
        self.successResultOf(drained)

    def test_failingHookDoesNotStopTheDrain(self) -> None:
        """A drain() hook that raises is logged; the drain still waits and has its deadline."""
        clock = Clock()
        factory = DrainableFactory(Factory.forProtocol(Broken), clock)
        wrapper, transport = connect(factory)
        clock.advance(1)
        drained = factory.drain(idleGrace=1, deadline=5)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        clock.advance(5)
        self.assertTrue(transport.disconnected)
        lose(wrapper)
        self.successResultOf(drained)
