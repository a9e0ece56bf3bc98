"""Unit tests of the master's service: what it binds, starts and closes, and in what order."""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import Factory
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.backoff import GIVE_UP_AFTER
from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.service import EXIT_APP_CANNOT_START, EXIT_CANNOT_LISTEN, RecyclerService
from recycler.master.spawn import WorkerCommand
from recycler.testing import FakeProcessReactor


class FakeListeners:
    """Shared sockets that record what the service does with them."""

    def __init__(self, bindError: Exception | None = None) -> None:
        self.calls: list[str] = []
        self._bindError = bindError

    def listen(self) -> Deferred[object]:
        self.calls.append("listen")
        return fail(self._bindError) if self._bindError else succeed([])

    def filenos(self) -> list[int]:
        return [7]

    def close(self) -> Deferred[object]:
        self.calls.append("close")
        return succeed(None)


def makeService(
    listeners: FakeListeners, admin: tuple[str, Factory] | None = None
) -> tuple[RecyclerService, FakeProcessReactor, list[int]]:
    reactor = FakeProcessReactor()
    command = WorkerCommand("/py", [], {}, listeners)
    pool = WorkerPool(reactor, command, PoolConfig(target=2), random=lambda: 0.5)
    exits: list[int] = []
    service = RecyclerService(
        reactor, listeners, pool, admin, installSignals=None, exit=exits.append
    )
    return service, reactor, exits


class OrderTests(SynchronousTestCase):
    """Sockets first, workers next, sockets closed last."""

    def test_bindsInPrivilegedStartThenSpawnsOnTheSockets(self) -> None:
        """The sockets are bound before privileges drop; workers get them as fd 5."""
        listeners = FakeListeners()
        service, reactor, _ = makeService(listeners)
        service.privilegedStartService()
        self.assertEqual(listeners.calls, ["listen"])
        self.assertEqual(reactor.processes, [])
        service.startService()
        self.assertEqual(listeners.calls, ["listen"], "bound once")
        self.assertEqual(len(reactor.processes), 2)
        self.assertEqual(reactor.processes[0].childFDs[5], 7)

    def test_socketsCloseOnlyAfterEveryWorkerExited(self) -> None:
        """Stopping drains every worker, and closes the sockets once the last has exited."""
        listeners = FakeListeners()
        service, reactor, _ = makeService(listeners)
        service.startService()
        for process in reactor.processes:
            process.send("ready")
        stopped = service.stopService()
        self.assertEqual([p.commands() for p in reactor.processes], [["drain"], ["drain"]])
        reactor.processes[0].exit()
        self.assertNotIn("close", listeners.calls)
        self.assertNoResult(stopped)
        reactor.processes[1].exit()
        self.assertEqual(listeners.calls, ["listen", "close"])
        self.successResultOf(stopped)

    def test_adminPortBindsAfterTheSocketsAndClosesWithThem(self) -> None:
        """The admin endpoint is bound once the shared sockets are."""
        listeners = FakeListeners()
        service, reactor, _ = makeService(listeners, ("tcp:10081:interface=127.0.0.1", Factory()))
        with capturedLogs() as events:
            service.startService()
        self.assertEqual(
            [(port, iface) for port, _, _, iface in reactor.tcpServers], [(10081, "127.0.0.1")]
        )
        self.assertIn("admin-listening", [e.get("event") for e in events])
        for process in reactor.processes:
            process.exit()
        self.successResultOf(service.stopService())


class BindFailureTests(SynchronousTestCase):
    """A master that cannot bind logs why and exits 1 without spawning."""

    def test_cannotListenExitsWithoutWorkers(self) -> None:
        """The error is logged as critical; the exit runs after the reactor shut down."""
        listeners = FakeListeners(OSError("Address already in use"))
        service, reactor, exits = makeService(listeners)
        with capturedLogs() as events:
            service.startService()
        self.assertEqual(reactor.processes, [])
        critical = [e for e in events if e["log_level"].name == "critical"]
        self.assertEqual(len(critical), 1)
        self.assertIn("Address already in use", critical[0]["error"])
        self.assertEqual(exits, [], "not before the reactor has shut down")
        [(afterShutdown, args, _)] = reactor.triggers["after"]["shutdown"]
        afterShutdown(*args)
        self.assertEqual(exits, [EXIT_CANNOT_LISTEN])


class AppCannotStartTests(SynchronousTestCase):
    """A pool that gives up (no worker ever ready) stops the master, which exits 3."""

    def test_closesTheSocketsAndExitsNonZero(self) -> None:
        """Every attempt fails the same way: the reactor stops, the sockets close, exit 3."""
        listeners = FakeListeners()
        service, reactor, exits = makeService(listeners)
        service.startService()
        reactor.running = True
        stops: list[bool] = []
        reactor.stop = lambda: stops.append(True)  # type: ignore[method-assign]
        for _ in range(GIVE_UP_AFTER):
            reactor.alive()[0].exit(3)
            reactor.advance(5)  # the next retry (within the boot timeout)
        self.assertEqual(stops, [True])
        self.successResultOf(service.stopService())
        self.assertEqual(listeners.calls, ["listen", "close"])
        [(afterShutdown, args, _)] = reactor.triggers["after"]["shutdown"]
        afterShutdown(*args)
        self.assertEqual(exits, [EXIT_APP_CANNOT_START])


class FakeForkServers:
    """A fork server a test makes ready (or fail) by hand."""

    def __init__(self) -> None:
        self.starting: Deferred[None] = Deferred()
        self.stopped = False

    def start(self) -> Deferred[None]:
        return self.starting

    def stop(self) -> Deferred[None]:
        self.stopped = True
        return succeed(None)


class ForkModeTests(SynchronousTestCase):
    """With a fork server, it starts after the sockets and before any worker."""

    def makeForkService(
        self,
    ) -> tuple[RecyclerService, FakeProcessReactor, list[int], FakeForkServers]:
        listeners = FakeListeners()
        reactor = FakeProcessReactor()
        pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, listeners), PoolConfig(target=2))
        exits: list[int] = []
        forkServers = FakeForkServers()
        service = RecyclerService(
            reactor,
            listeners,
            pool,
            None,
            None,
            exits.append,
            forkServers,  # type: ignore[arg-type]
        )
        return service, reactor, exits, forkServers

    def test_workersWaitForTheForkServer(self) -> None:
        """The pool spawns only once the fork server is ready; stopping stops it too."""
        service, reactor, _, forkServers = self.makeForkService()
        service.startService()
        self.assertFalse(service.pool.running)
        forkServers.starting.callback(None)
        self.assertTrue(service.pool.running)
        self.assertEqual(len(reactor.processes), 2)
        for process in reactor.processes:
            process.exit()
        self.successResultOf(service.stopService())
        self.assertTrue(forkServers.stopped)

    def test_aForkServerThatCannotStartStopsTheMaster(self) -> None:
        """The reason is logged as critical and the master exits 3 once shut down."""
        service, reactor, exits, forkServers = self.makeForkService()
        service.startService()
        reactor.running = True
        stops: list[bool] = []
        reactor.stop = lambda: stops.append(True)  # type: ignore[method-assign]
        with capturedLogs() as events:
            forkServers.starting.errback(OSError("cannot import 'nosuch'"))
        self.assertEqual(stops, [True])
        self.assertIn("nosuch", " ".join(str(e.get("error")) for e in events))
        self.assertFalse(service.pool.running)
        [(afterShutdown, args, _)] = reactor.triggers["after"]["shutdown"]
        afterShutdown(*args)
        self.assertEqual(exits, [3])
