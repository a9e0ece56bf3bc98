"""Graceful drain for any protocol factory: wait for connections to end on their own.

A plain TCP protocol has no requests the worker could see, so draining means:
stop accepting (done by the caller), call C{drain()} on each connection's
protocol that has such a method so it can close politely (say, after its
current exchange), wait until every connection has closed, and abort whatever
is still open at the deadline.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IProtocolFactory, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from recycler.completion import Completion


class DrainableFactory(WrappingFactory):
    """
    Wraps a protocol factory, tracks its connections, and drains them.

    @ivar served: Connections that have ended.
    @ivar draining: Whether L{drain} has been called.
    """

    noisy = False
    log = Logger()

    def __init__(self, wrappedFactory: IProtocolFactory, reactor: IReactorTime) -> None:
        super().__init__(wrappedFactory)
        self.reactor = reactor
        self.served = 0
        self.draining = False
        self._drained = Completion()
        self._deadline: IDelayedCall | None = None

    @property
    def inFlight(self) -> int:
        """Connections open now."""
        return len(self.protocols)

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        super().unregisterProtocol(p)
        self.served += 1
        self._checkDrained()

    def drain(self, idleGrace: float, deadline: float) -> Deferred[None]:
        """
        Ask each connection's protocol to C{drain()} if it can, wait for all of
        them to close, abort the rest after C{deadline} seconds. (C{idleGrace}
        does not apply: only the protocol knows when its connection is idle.)
        """
        if not self.draining:
            self.draining = True
            for wrapper in list(self.protocols):
                hook = getattr(wrapper.wrappedProtocol, "drain", None)
                if callable(hook):
                    try:
                        hook()
                    except Exception:
                        self.log.failure("{protocol!r}.drain() failed", protocol=hook.__self__)
            self._deadline = self.reactor.callLater(deadline, self._abortAll)
            self._checkDrained()
        return self._drained.wait()

    def _abortAll(self) -> None:
        for wrapper in list(self.protocols):
            wrapper.transport.abortConnection()

    def _checkDrained(self) -> None:
        if self.draining and not self.protocols and not self._drained.done:
            if self._deadline is not None and self._deadline.active():
                self._deadline.cancel()
            self._drained.fire()
