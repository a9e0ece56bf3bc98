# -*- test-case-name: tests.worker.test_drain -*-
"""What a worker serves, and the end of a drain.

A worker serves an L{IDrainable} factory: L{recycler.worker.drain.http.DrainableSite}
for twisted.web and WSGI apps, L{recycler.worker.drain.tcp.DrainableFactory} for
any other protocol factory. Each drains its own way, and ends the same way,
with L{Drain}: whatever is still open at the deadline is aborted, and the drain
is over once no connection is left. The deadline comes from the master's
C{--grace} through L{abortDelay}.
"""

from __future__ import annotations

from collections.abc import Collection

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.internet.protocol import Protocol
from zope.interface import Attribute


class IDrainable(IProtocolFactory):
    """A protocol factory that counts its work and can close its connections gracefully."""

    served = Attribute("Requests (for a plain protocol, connections) completed so far.")
    inFlight = Attribute("Requests (for a plain protocol, connections) in progress now.")

    def drain(idleGrace: float, deadline: float) -> Deferred[None]:
        """
        Close every connection gracefully; the caller has stopped accepting.
        Calling it again waits for the same drain.

        @param idleGrace: Seconds an idle connection may stay open once the
            drain started (or its last response was sent), for a server that
            can tell when a connection is idle (HTTP). A plain protocol factory
            cannot (only the protocol knows, through its C{drain()} hook): it
            asks a connection to drain once it is C{idleGrace} old.
        @param deadline: Seconds after which whatever is left is aborted.
        @return: Fires when no connection is left.
        """


def abortDelay(grace: float) -> float:
    """
    When a worker aborts the connections still open, in seconds since its drain
    began: shortly before the master's SIGKILL at C{grace}, so that the worker
    still exits by itself, reports its final counters, and flushes its logs.
    """
    return max(grace - 1, grace / 2)


class Completion:
    """
    Something that happens once. L{wait} gives each caller its own Deferred,
    fired by L{fire}, or at once if it already happened.

    @ivar done: Whether L{fire} has been called.
    """

    def __init__(self) -> None:
        self.done = False
        self._waiting: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """A Deferred that fires (with L{None}) once this has happened."""
        if self.done:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def fire(self) -> None:
        """It happened: fire every waiter. Later calls do nothing."""
        if self.done:
            return
        self.done = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)


class Drain:
    """
    One drain in progress, the part every L{IDrainable} shares: the connections
    still open C{deadline} seconds from now are aborted, and L{wait} fires once
    none is left. The server calls L{check} whenever one of them closes.
    """

    def __init__(
        self, reactor: IReactorTime, deadline: float, connections: Collection[Protocol]
    ) -> None:
        """
        @param connections: The server's open connections, a live collection
            (a set, or a dict keyed by them) that shrinks as they close.
        """
        self._connections = connections
        self._completion = Completion()
        self._abort = reactor.callLater(deadline, self._abortAll)
        self.check()

    def wait(self) -> Deferred[None]:
        """A Deferred that fires once no connection is left."""
        return self._completion.wait()

    def check(self) -> None:
        """Finish the drain (and cancel the deadline) if no connection is left."""
        if not self._connections and not self._completion.done:
            if self._abort.active():
                self._abort.cancel()
            self._completion.fire()

    def _abortAll(self) -> None:
        for connection in list(self._connections):
            connection.transport.abortConnection()
