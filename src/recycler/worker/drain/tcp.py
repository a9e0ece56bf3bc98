# -*- test-case-name: tests.worker.test_drain_tcp -*-
"""Graceful drain for any protocol factory: wait for connections to end on their own.

A plain TCP protocol has no requests the worker could see, so draining means:
stop accepting (done by the caller), call C{drain()} on each connection's
protocol that has such a method so it can close politely (say, after its
current exchange), wait until every connection has closed, and abort whatever
is still open at the deadline. A connection younger than C{idleGrace} is asked
only once it is that old: one accepted a moment ago may have its first message
on the wire, and a protocol that closes when idle would drop it.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

from recycler.worker.drain import Drain, IDrainable


@implementer(IDrainable)
class DrainableFactory(WrappingFactory):
    """
    Wraps a protocol factory, tracks its connections, and drains them.

    @ivar served: Connections that have ended.
    """

    noisy = False
    log = Logger()

    def __init__(self, wrappedFactory: IProtocolFactory, reactor: IReactorTime) -> None:
        super().__init__(wrappedFactory)
        self.reactor = reactor
        self.served = 0
        self._drain: Drain | None = None
        self._openedAt: dict[ProtocolWrapper, float] = {}

    def registerProtocol(self, p: ProtocolWrapper) -> None:
        super().registerProtocol(p)
        self._openedAt[p] = self.reactor.seconds()

    @property
    def inFlight(self) -> int:
        """Connections open now."""
        return len(self.protocols)

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        super().unregisterProtocol(p)
        self._openedAt.pop(p, None)
        self.served += 1
        if self._drain is not None:
            self._drain.check()

    def drain(self, idleGrace: float, deadline: float) -> Deferred[None]:
        """
        Ask each connection's protocol to C{drain()} if it can (once the
        connection is C{idleGrace} seconds old), wait for all of them to close,
        abort the rest after C{deadline} seconds.
        """
        if self._drain is None:
            self._drain = Drain(self.reactor, deadline, self.protocols)
            now = self.reactor.seconds()
            for wrapper in list(self.protocols):
                age = now - self._openedAt.get(wrapper, now - idleGrace)
                if age >= idleGrace:
                    self._askToDrain(wrapper)
                else:
                    self.reactor.callLater(idleGrace - age, self._askToDrain, wrapper)
        return self._drain.wait()

    def _askToDrain(self, wrapper: ProtocolWrapper) -> None:
        hook = getattr(wrapper.wrappedProtocol, "drain", None)
        if wrapper in self.protocols and callable(hook):
            try:
                hook()
            except Exception:
                self.log.failure("{protocol!r}.drain() failed", protocol=hook.__self__)
