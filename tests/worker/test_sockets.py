"""Tests of L{recycler.worker.sockets}: adopting the shared sockets, one accept per wake-up.

These are synchronous on purpose: the suite also runs under pytest-twisted,
whose reactor is already running once an end-to-end test used it, so a test
here cannot run the global reactor. Twisted's real C{tcp.Port} is used on real
sockets, with a L{MemoryReactorClock} standing in only for the event loop.
"""

from __future__ import annotations

import fcntl
import os
import socket

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.tcp import Port
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.worker.sockets import acceptOnePerWakeup, adoptListeners


class Counting(Factory):
    """Counts the connections its port accepted, and has the port close each at once."""

    noisy = False
    accepted = 0

    def buildProtocol(self, addr: IPv4Address) -> None:
        self.accepted += 1
        return None


class FakePort:
    """Records the accept batch size each doRead runs with, as tcp.Port's loop would use."""

    def __init__(self) -> None:
        self.numberAccepts = 100
        self.seen: list[int] = []

    def doRead(self) -> None:
        self.seen.append(self.numberAccepts)
        self.numberAccepts += 20  # tcp.Port grows the batch when it was filled


class AcceptOnePerWakeupTests(SynchronousTestCase):
    """L{acceptOnePerWakeup} pins the batch before every C{doRead}."""

    def test_pinnedBeforeEveryRead(self) -> None:
        """Every doRead runs with a batch of one, although the port grows it after each call."""
        port = FakePort()
        acceptOnePerWakeup(port)
        port.doRead()
        port.doRead()
        self.assertEqual(port.seen, [1, 1])

    def test_unknownPortIsALoudError(self) -> None:
        """A port without C{numberAccepts} (Twisted renamed it) is logged as an error."""

        class Renamed:
            """A port from a Twisted that renamed C{numberAccepts}."""

            def doRead(self) -> None:
                pass

        port = Renamed()
        with capturedLogs() as events:
            acceptOnePerWakeup(port)
        self.assertEqual([e["log_level"] for e in events], [LogLevel.error])
        self.assertNotIn("doRead", vars(port), "served unpinned")


class RealPortTests(SynchronousTestCase):
    """
    The tweak against Twisted's own C{tcp.Port}: if Twisted renames
    C{numberAccepts} or stops reading it, these fail.
    """

    def listen(self) -> tuple[Port, Counting]:
        """A real port on 127.0.0.1 whose accepts only the test triggers."""
        clock = MemoryReactorClock()
        factory = Counting()
        port = Port(0, factory, interface="127.0.0.1", reactor=clock)
        port.startListening()

        def close() -> None:
            closed = port.stopListening()
            clock.advance(0)
            self.successResultOf(closed)

        self.addCleanup(close)
        return port, factory

    def connectClients(self, port: Port, count: int) -> None:
        """Open C{count} connections; the kernel completes them into the accept queue."""
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
            self.addCleanup(client.close)

    def test_oneAcceptPerRead(self) -> None:
        """With three connections queued, each doRead of a pinned port accepts exactly one."""
        port, factory = self.listen()
        acceptOnePerWakeup(port)
        self.connectClients(port, 3)
        port.doRead()
        self.assertEqual(factory.accepted, 1)
        port.doRead()
        self.assertEqual(factory.accepted, 2)

    def test_unpinnedPortTakesTheBurst(self) -> None:
        """The control: without the tweak, one doRead accepts all three at once."""
        port, factory = self.listen()
        self.connectClients(port, 3)
        port.doRead()
        self.assertEqual(factory.accepted, 3)

    def test_noErrorForARealPort(self) -> None:
        """Twisted's port has the attribute: nothing is logged."""
        port, _ = self.listen()
        with capturedLogs() as events:
            acceptOnePerWakeup(port)
        self.assertEqual(events, [])


class AdoptingReactor:
    """Adopts a socket as Twisted does (its own duplicate of the fd) and records the call."""

    def __init__(self) -> None:
        self.adopted: list[tuple[int, bool, object]] = []

    def adoptStreamPort(self, fd: int, family: socket.AddressFamily, factory: object) -> FakePort:
        nonBlocking = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)
        with socket.socket(family, socket.SOCK_STREAM, fileno=os.dup(fd)) as copy:
            self.adopted.append((copy.getsockname()[1], nonBlocking, factory))
        return FakePort()


def freeFDs(count: int) -> int:
    """The first of C{count} consecutive fd numbers from 100 on that are not open."""
    first = 100
    while any(isOpen(fd) for fd in range(first, first + count)):
        first += 1
    return first


def isOpen(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def closeIfOpen(*fds: int) -> None:
    for fd in fds:
        if isOpen(fd):
            os.close(fd)


class AdoptListenersTests(SynchronousTestCase):
    """L{adoptListeners} adopts the inherited fds in order and closes the raw copies."""

    def test_adoptsInOrder(self) -> None:
        """
        Consecutive fds are adopted in fd order, non-blocking as Twisted requires,
        the raw fds are closed, and each port accepts one connection per wake-up.
        """
        first = freeFDs(2)
        expected = []
        for fd in (first, first + 1):
            with socket.create_server(("127.0.0.1", 0)) as listening:
                expected.append(listening.getsockname()[1])
                os.dup2(listening.fileno(), fd)
        self.addCleanup(closeIfOpen, first, first + 1)
        reactor, factory = AdoptingReactor(), Factory()
        ports = adoptListeners(reactor, 2, factory, firstFD=first)
        self.assertEqual(reactor.adopted, [(port, True, factory) for port in expected])
        self.assertFalse(isOpen(first) or isOpen(first + 1), "raw fds closed")
        for port in ports:
            port.doRead()
        self.assertEqual([port.seen for port in ports], [[1], [1]])
