"""Unit tests of the master's signal table and its dispatch through the reactor thread."""

from __future__ import annotations

import signal
from collections.abc import Callable

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.service import RecyclerService
from recycler.master.signals import installSignalHandlers, signalTable
from recycler.master.spawn import WorkerCommand
from recycler.testing import FakeProcessReactor


class ThreadlessReactor(FakeProcessReactor):
    """Runs C{callFromThread} calls at once, as the reactor thread would next."""

    def callFromThread(self, f: Callable[..., object], *args: object, **kw: object) -> None:
        f(*args, **kw)


class Listeners:
    def filenos(self) -> list[int]:
        return [7]


def runningService() -> tuple[RecyclerService, ThreadlessReactor, dict[int, Callable]]:
    """A started service whose signal handlers were installed into a dict."""
    reactor = ThreadlessReactor()
    pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, Listeners()), PoolConfig(2))
    handlers: dict[int, Callable] = {}
    service = RecyclerService(reactor, Listeners(), pool, installSignals=None)  # type: ignore
    installSignalHandlers(reactor, signalTable(service), install=handlers.__setitem__)
    pool.startService()
    for process in reactor.processes:
        process.send("ready")
    reactor.running = True
    return service, reactor, handlers


class SignalTableTests(SynchronousTestCase):
    """Each signal an operator sends does what docs/operations.md says."""

    def test_theTable(self) -> None:
        """TERM, INT, HUP, TTIN and TTOU are handled; nothing else is replaced."""
        _, _, handlers = runningService()
        self.assertEqual(
            set(handlers),
            {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU},
        )

    def test_termAndIntStopTheReactorOnce(self) -> None:
        """SIGTERM stops the reactor (twistd then drains); a second signal does nothing more."""
        _, reactor, handlers = runningService()
        stops: list[bool] = []
        reactor.stop = lambda: stops.append(True)  # type: ignore[method-assign]
        with capturedLogs() as events:
            handlers[signal.SIGTERM](signal.SIGTERM, None)
            handlers[signal.SIGINT](signal.SIGINT, None)
        self.assertEqual(stops, [True])
        self.assertEqual([e["signal"] for e in events if "signal" in e], ["SIGTERM", "SIGINT"])

    def test_hupReloadsEveryWorker(self) -> None:
        """SIGHUP starts a rolling reload: the first worker retires, a replacement starts."""
        service, reactor, handlers = runningService()
        handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(len(reactor.processes), 3)
        self.assertEqual(service.pool.pendingReason(service.pool.workers[1]), "reload")
        self.assertEqual(service.pool.pendingReason(service.pool.workers[2]), "reload")

    def test_ttinAndTtouResize(self) -> None:
        """SIGTTIN adds a worker, SIGTTOU removes one."""
        service, _, handlers = runningService()
        handlers[signal.SIGTTIN](signal.SIGTTIN, None)
        self.assertEqual(service.pool.target, 3)
        handlers[signal.SIGTTOU](signal.SIGTTOU, None)
        handlers[signal.SIGTTOU](signal.SIGTTOU, None)
        self.assertEqual(service.pool.target, 1)

    def test_refusedRequestIsLoggedNotRaised(self) -> None:
        """SIGTTOU at one worker is refused with a warning; the master carries on."""
        service, _, handlers = runningService()
        service.pool.scale(1)
        with capturedLogs() as events:
            handlers[signal.SIGTTOU](signal.SIGTTOU, None)
        self.assertEqual(service.pool.target, 1)
        self.assertIn("between 1 and", "".join(str(e.get("error")) for e in events))
