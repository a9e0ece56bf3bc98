# -*- test-case-name: tests.master.test_service -*-
"""The master's top-level service: shared sockets first, workers next, sockets closed last."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from twisted.application.service import Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList, FirstError, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IReactorCore
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler.master.forking import ForkServers
from recycler.master.listeners import SharedListeners
from recycler.master.notify import SystemdNotifier
from recycler.master.pool import PoolError, WorkerPool
from recycler.master.reaping import OrphanReaper
from recycler.master.signals import installSignalHandlers, signalTable

EXIT_CANNOT_LISTEN = 1
"""Exit status of a master that could not bind its sockets."""

EXIT_CANNOT_FORK = 3
"""Exit status of a master whose fork server could not start (say, --preload failed)."""

EXIT_APP_CANNOT_START = 3
"""Exit status of a master none of whose workers ever started (gunicorn's, for the same)."""


class RecyclerService(Service):
    """
    Binds the shared sockets, the admin and the monitoring port (in C{privilegedStartService},
    so a privileged port works with C{twistd --uid}), then starts the pool,
    which spawns workers on those sockets. Stopping drains every worker before
    it closes the shared sockets: closing them first would shut down every
    worker's listener.

    With a fork server (C{--spawn fork}), it is started once the sockets are
    bound (it hands them to every worker it forks) and before the pool spawns
    (L{recycler.master.forking}). The master then also reaps the orphans it
    inherits as the workers' subreaper.

    @ivar pool: The worker pool.
    @ivar admin: The admin endpoint description and the factory serving it, or L{None}.
    @ivar metrics: The same for the monitoring port (C{--metrics}), bound after the admin port.
    @ivar forkServers: Where workers are forked from, or L{None} (exec).
    @ivar notifier: Tells systemd how the master is doing, or L{None} (no C{NOTIFY_SOCKET}).
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorCore,
        listeners: SharedListeners,
        pool: WorkerPool,
        admin: tuple[str, Factory] | None = None,
        installSignals: Callable[..., None] | None = installSignalHandlers,
        exit: Callable[[int], None] = lambda status: _exitNow(status),
        forkServers: ForkServers | None = None,
        metrics: tuple[str, Factory] | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self._reactor = reactor
        self.listeners = listeners
        self.pool = pool
        self.admin = admin
        self.metrics = metrics
        self._installSignals = installSignals
        self._exit = exit
        self._binding: Deferred[object] | None = None
        self._operatorPorts: list[IListeningPort] = []
        self._stopRequested = False
        self.forkServers = forkServers
        self.notifier = notifier
        self._orphans = OrphanReaper(reactor)
        pool.gaveUp.addCallback(self._appCannotStart)

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._bind()

    def startService(self) -> None:
        super().startService()
        if self.notifier is not None:
            self.notifier.start(self.pool)
        self._bind().addCallbacks(self._startPool, self._cannotListen)
        if self._installSignals is not None:
            self._reactor.callWhenRunning(self._installSignals, self._reactor, signalTable(self))

    def stopService(self) -> Deferred[object]:
        super().stopService()
        if self.notifier is not None:
            self.notifier.stopping()
        stopping = [self.pool.stopService() if self.pool.running else succeed(None)]
        if self.forkServers is not None:
            stopping.append(self.forkServers.stop())
        stopped = DeferredList(stopping)
        stopped.addCallback(lambda _: self._close())
        return stopped

    # What signals ask (recycler.master.signals.SignalTarget)

    def stop(self) -> None:
        """Stop the reactor once; twistd then stops this service."""
        if self._reactor.running and not self._stopRequested:
            self._stopRequested = True
            self._reactor.stop()

    def reload(self) -> None:
        """Rolling reload of every worker."""
        self._poolRequest(lambda pool: pool.reload())

    def resize(self, delta: int) -> None:
        """Run C{delta} more (or fewer) workers."""
        self._poolRequest(lambda pool: pool.scale(pool.target + delta))

    # Internals

    def _poolRequest(self, request: Callable[[WorkerPool], None]) -> None:
        if not self.pool.running:
            return
        try:
            request(self.pool)
        except PoolError as e:
            self.log.warn("{error}", error=str(e))

    def _bind(self) -> Deferred[object]:
        if self._binding is None:
            self._binding = self.listeners.listen()
            if self.admin is not None:
                self._binding.addCallback(lambda _: self._bindPort("admin", *self.admin))
            if self.metrics is not None:
                self._binding.addCallback(lambda _: self._bindPort("metrics", *self.metrics))
        return self._binding

    def _bindPort(self, what: str, description: str, factory: Factory) -> Deferred[object]:
        def bound(port: IListeningPort) -> None:
            self._operatorPorts.append(port)
            address = port.getHost()
            name = getattr(address, "name", None)
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            self.log.info(
                "{what} port on {description} ({address})",
                what=what,
                description=description,
                address=name or f"{address.host}:{address.port}",
                event=f"{what}-listening",
                port=getattr(address, "port", None),
            )

        listening = endpoints.serverFromString(self._reactor, description).listen(factory)
        return listening.addCallback(bound)

    def _startPool(self, _: object) -> None:
        if not self.running:
            return
        if self.forkServers is None:
            self.pool.startService()
            return
        self._orphans.start()
        self.forkServers.start().addCallbacks(self._forkServerReady, self._cannotFork)

    def _forkServerReady(self, _: object) -> None:
        if self.running:
            self.pool.startService()

    def _cannotFork(self, failure: Failure) -> None:
        self.log.critical("cannot start the fork server: {error}", error=failure.getErrorMessage())
        self._reactor.addSystemEventTrigger("after", "shutdown", self._exit, EXIT_CANNOT_FORK)
        self._reactor.callWhenRunning(self.stop)

    def _appCannotStart(self, _: str) -> None:
        """The pool gave up (and said why): close the sockets, exit non-zero for systemd."""
        self._reactor.addSystemEventTrigger("after", "shutdown", self._exit, EXIT_APP_CANNOT_START)
        self.stop()

    def _close(self) -> Deferred[object]:
        self._orphans.stop()
        ports = [self.listeners.close()]
        ports.extend(maybeDeferred(port.stopListening) for port in self._operatorPorts)
        return DeferredList(ports)

    def _cannotListen(self, failure: Failure) -> None:
        if failure.check(FirstError):
            failure = failure.value.subFailure
        self.log.critical("cannot listen: {error}", error=failure.getErrorMessage())
        self._reactor.addSystemEventTrigger("after", "shutdown", self._exit, EXIT_CANNOT_LISTEN)
        self._reactor.callWhenRunning(self._reactor.stop)


def _exitNow(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
