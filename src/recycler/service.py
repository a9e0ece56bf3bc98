"""The master's top-level service: shared sockets first, workers next, sockets closed last."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, FirstError, succeed
from twisted.internet.interfaces import IReactorCore
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler.listeners import SharedListeners
from recycler.pool import PoolError, WorkerPool

EXIT_CANNOT_LISTEN = 1
"""Exit status of a master that could not bind its sockets."""


class RecyclerService(Service):
    """
    Binds the shared sockets (in C{privilegedStartService}, so a privileged port
    works with C{twistd --uid}), then starts the pool with their fds. Stopping
    drains every worker before it closes the sockets: closing them first would
    shut down every worker's listener.

    @ivar pool: The worker pool, once the sockets are bound.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorCore,
        listeners: SharedListeners,
        makePool: Callable[[Sequence[int]], WorkerPool],
        installSignalHandlers: bool = True,
    ) -> None:
        self._reactor = reactor
        self.listeners = listeners
        self._makePool = makePool
        self._installSignalHandlers = installSignalHandlers
        self._binding: Deferred[object] | None = None
        self._stopRequested = False
        self.pool: WorkerPool | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._binding = self.listeners.listen()

    def startService(self) -> None:
        super().startService()
        if self._binding is None:
            self._binding = self.listeners.listen()
        self._binding.addCallbacks(self._startPool, self._cannotListen)
        if self._installSignalHandlers:
            self._reactor.callWhenRunning(self._handleSignals)

    def stopService(self) -> Deferred[object]:
        super().stopService()
        stopped = succeed(None) if self.pool is None else self.pool.stopService()
        stopped.addCallback(lambda _: self.listeners.close())
        return stopped

    def _startPool(self, ports: object) -> None:
        if self.running:
            self.pool = self._makePool(self.listeners.filenos())
            self.pool.startService()

    def _cannotListen(self, failure: Failure) -> None:
        if failure.check(FirstError):
            failure = failure.value.subFailure
        self.log.critical(
            "cannot listen on {descriptions}: {error}",
            descriptions=", ".join(self.listeners.descriptions),
            error=failure.getErrorMessage(),
        )
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
        if self.pool is None or not self.pool.running:
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
