"""The master's top-level service: shared sockets first, workers next, sockets closed last."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

import attrs
from twisted.application.service import Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList, FirstError, succeed
from twisted.internet.interfaces import IListeningPort, IReactorCore
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler.master.listeners import SharedListeners
from recycler.master.pool import PoolError, WorkerPool

EXIT_CANNOT_LISTEN = 1
"""Exit status of a master that could not bind its sockets."""


class RecyclerService(Service):
    """
    Binds the shared sockets and the admin port (in C{privilegedStartService},
    so a privileged port works with C{twistd --uid}), then starts the pool with
    the sockets' fds. Stopping drains every worker before it closes the shared
    sockets: closing them first would shut down every worker's listener.

    @ivar pool: The worker pool.
    @ivar admin: The admin endpoint description and the factory serving it, or L{None}.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorCore,
        listeners: SharedListeners,
        pool: WorkerPool,
        admin: tuple[str, Factory] | None = None,
        installSignalHandlers: bool = True,
    ) -> None:
        self._reactor = reactor
        self.listeners = listeners
        self.pool = pool
        self.admin = admin
        self._installSignalHandlers = installSignalHandlers
        self._binding: Deferred[object] | None = None
        self._adminPort: IListeningPort | None = None
        self._stopRequested = False

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._bind()

    def startService(self) -> None:
        super().startService()
        self._bind().addCallbacks(self._startPool, self._cannotListen)
        if self._installSignalHandlers:
            self._reactor.callWhenRunning(self._handleSignals)

    def stopService(self) -> Deferred[object]:
        super().stopService()
        stopped = self.pool.stopService() if self.pool.running else succeed(None)
        stopped.addCallback(lambda _: self._close())
        return stopped

    def _bind(self) -> Deferred[object]:
        if self._binding is None:
            self._binding = self.listeners.listen()
            if self.admin is not None:
                self._binding.addCallback(lambda _: self._bindAdmin(*self.admin))
        return self._binding

    def _bindAdmin(self, description: str, factory: Factory) -> Deferred[object]:
        def bound(port: IListeningPort) -> None:
            self._adminPort = port
            address = port.getHost()
            name = getattr(address, "name", None)
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            self.log.info(
                "admin port on {description} ({address})",
                description=description,
                address=name or f"{address.host}:{address.port}",
                event="admin-listening",
                port=getattr(address, "port", None),
            )

        listening = endpoints.serverFromString(self._reactor, description).listen(factory)
        return listening.addCallback(bound)

    def _startPool(self, _: object) -> None:
        if self.running:
            self.pool.command = attrs.evolve(
                self.pool.command, listenerFDs=self.listeners.filenos()
            )
            self.pool.startService()

    def _close(self) -> Deferred[object]:
        ports = [self.listeners.close()]
        if self._adminPort is not None:
            ports.append(self._adminPort.stopListening())
        return DeferredList(ports)

    def _cannotListen(self, failure: Failure) -> None:
        if failure.check(FirstError):
            failure = failure.value.subFailure
        self.log.critical("cannot listen: {error}", error=failure.getErrorMessage())
        self._reactor.addSystemEventTrigger("after", "shutdown", _exitNow, EXIT_CANNOT_LISTEN)
        self._reactor.callWhenRunning(self._reactor.stop)

    def _handleSignals(self) -> None:
        """
        Install the master's signal handlers (replacing the reactor's, which
        re-raise the signal at exit instead of exiting 0):

         - SIGTERM, SIGINT: drain every worker, close the sockets, exit 0;
         - SIGHUP: rolling reload of every worker (as the admin C{reload});
         - SIGTTIN, SIGTTOU: one worker more, one fewer (gunicorn's convention).
        """
        actions: dict[int, Callable[[], None]] = {
            signal.SIGTERM: self._stopOnce,
            signal.SIGINT: self._stopOnce,
            signal.SIGHUP: lambda: self._poolRequest(lambda pool: pool.reload()),
            signal.SIGTTIN: lambda: self._poolRequest(lambda pool: pool.spawn(1)),
            signal.SIGTTOU: lambda: self._poolRequest(lambda pool: pool.scale(pool.target - 1)),
        }

        def handle(signum: int, frame: object) -> None:
            self._reactor.callFromThread(self._onSignal, signum, actions[signum])

        for signum in actions:
            signal.signal(signum, handle)

    def _onSignal(self, signum: int, action: Callable[[], None]) -> None:
        self.log.info("got {signal}", signal=signal.Signals(signum).name)
        action()

    def _poolRequest(self, request: Callable[[WorkerPool], None]) -> None:
        if not self.pool.running:
            return
        try:
            request(self.pool)
        except PoolError as e:
            self.log.warn("{error}", error=str(e))

    def _stopOnce(self) -> None:
        if self._reactor.running and not self._stopRequested:
            self._stopRequested = True
            self._reactor.stop()


def _exitNow(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
