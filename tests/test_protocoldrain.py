"""Unit tests of the drain for plain protocol factories."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from recycler.worker.drain.tcp import DrainableFactory

ADDRESS = IPv4Address("TCP", "127.0.0.1", 1234)


class Polite(Protocol):
    """Closes when asked to drain."""

    drained = False

    def drain(self):
        self.drained = True
        self.transport.loseConnection()


def connect(factory: DrainableFactory):
    wrapper = factory.buildProtocol(ADDRESS)
    transport = StringTransport()
    wrapper.makeConnection(transport)
    return wrapper, transport


def lose(wrapper):
    wrapper.connectionLost(Failure(ConnectionDone()))


def test_countsConnections():
    """Open connections are in flight; closed ones count as served."""
    factory = DrainableFactory(Factory.forProtocol(Protocol), Clock())
    first, _ = connect(factory)
    connect(factory)
    assert (factory.inFlight, factory.served) == (2, 0)
    lose(first)
    assert (factory.inFlight, factory.served) == (1, 1)


def test_drainWaitsForConnectionsToClose():
    """The drain fires only once the last connection has closed on its own."""
    clock = Clock()
    factory = DrainableFactory(Factory.forProtocol(Protocol), clock)
    wrapper, transport = connect(factory)
    drained = factory.drain(idleGrace=1, deadline=30)
    clock.advance(10)
    assert not drained.called
    assert not transport.disconnecting
    lose(wrapper)
    assert drained.called
    assert clock.getDelayedCalls() == []


def test_drainHookIsCalled():
    """Protocols with a drain() method are asked to close politely."""
    factory = DrainableFactory(Factory.forProtocol(Polite), Clock())
    wrapper, transport = connect(factory)
    factory.drain(idleGrace=1, deadline=30)
    assert wrapper.wrappedProtocol.drained
    assert transport.disconnecting


def test_deadlineAborts():
    """Connections still open at the deadline are aborted."""
    clock = Clock()
    factory = DrainableFactory(Factory.forProtocol(Protocol), clock)
    wrapper, transport = connect(factory)
    drained = factory.drain(idleGrace=1, deadline=5)
    clock.advance(5)
    assert transport.disconnected
    lose(wrapper)
    assert drained.called


class Broken(Protocol):
    def drain(self):
        raise RuntimeError("bug in drain()")


def test_failingHookDoesNotStopTheDrain():
    """A drain() hook that raises is logged; the drain still waits and has its deadline."""
    clock = Clock()
    factory = DrainableFactory(Factory.forProtocol(Broken), clock)
    wrapper, transport = connect(factory)
    with capturedLogs() as events:
        drained = factory.drain(idleGrace=1, deadline=5)
    assert any("log_failure" in event for event in events)
    clock.advance(5)
    assert transport.disconnected
    lose(wrapper)
    assert drained.called
