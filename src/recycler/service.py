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
from recycler.pool import WorkerPool

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
            self._reactor.callWhenRunning(self._handleStopSignals)

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

    def _handleStopSignals(self) -> None:
        """SIGTERM and SIGINT stop gracefully and exit 0 (the reactor's own handlers re-raise)."""

        def stop(signum: int, frame: object) -> None:
            self.log.info("got signal {signal}: draining workers", signal=signum)
            self._reactor.callFromThread(self._stopOnce)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _stopOnce(self) -> None:
        if self._reactor.running and not self._stopRequested:
            self._stopRequested = True
            self._reactor.stop()


def _exitNow(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
