"""Unit tests of L{recycler.master.forking}: which fork server workers come from, and when."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.forking import ForkServers
from recycler.master.forkserver import ForkServerError


class FakeForkServer:
    """A fork server whose start a test finishes (or fails) by hand."""

    def __init__(self, pid: int, onGone: Callable[[str], None]) -> None:
        self.pid = pid
        self.onGone = onGone
        self.starting: Deferred[None] = Deferred()
        self.running = False
        self.stopped = False
        self.forked: list[object] = []

    def start(self) -> Deferred[None]:
        return self.starting

    def ready(self) -> None:
        self.running = True
        self.starting.callback(None)

    def fail(self, why: str) -> None:
        self.starting.errback(ForkServerError(why))

    def stop(self) -> Deferred[None]:
        self.stopped = True
        self.running = False
        return Deferred()

    def fork(self, protocol: object, args: object) -> object:
        self.forked.append(protocol)
        return protocol


class ForkServersTests(SynchronousTestCase):
    """Start, fork, restart after a death, replace on reload."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.made: list[FakeForkServer] = []

        def make(onGone: Callable[[str], None]) -> FakeForkServer:
            server = FakeForkServer(100 + len(self.made), onGone)
            self.made.append(server)
            return server

        self.servers = ForkServers(self.clock, make, random=lambda: 0.0)  # type: ignore[arg-type]

    def test_forksFromTheCurrentOneOnceReady(self) -> None:
        """Until the first fork server is ready, forking fails (the pool backs off)."""
        started = self.servers.start()
        self.assertRaises(ForkServerError, self.servers.fork, "w1", [])
        self.made[0].ready()
        self.successResultOf(started)
        self.servers.fork("w1", [])
        self.assertEqual(self.made[0].forked, ["w1"])
        self.assertEqual(self.servers.status().pid, 100)
        self.assertTrue(self.servers.status().ready)

    def test_firstStartFailureIsReported(self) -> None:
        """A fork server that cannot start fails C{start} with its reason."""
        started = self.servers.start()
        self.made[0].fail("cannot import 'nosuch'")
        self.failureResultOf(started, ForkServerError)

    def test_aDeadForkServerIsRestartedWithBackoff(self) -> None:
        """After a death, another starts 0.5 s later, then later still if that fails too."""
        self.servers.start()
        self.made[0].ready()
        self.made[0].onGone("signal 9")
        self.assertIsNone(self.servers.current)
        self.assertEqual(self.servers.status().failure, "signal 9")
        self.assertRaises(ForkServerError, self.servers.fork, "w", [])
        self.clock.advance(0.5)
        self.assertEqual(len(self.made), 2)
        self.made[1].fail("still broken")
        self.clock.advance(0.99)
        self.assertEqual(len(self.made), 2, "the second retry waits 1 s")
        self.clock.advance(0.01)
        self.made[2].ready()
        self.assertIs(self.servers.current, self.made[2])
        self.assertIsNone(self.servers.status().failure)
        self.assertEqual(self.servers.status().restarts, 1)

    def test_reloadStartsTheNewOneFirst(self) -> None:
        """The old fork server forks until the new one is ready, then it is stopped."""
        self.servers.start()
        self.made[0].ready()
        replaced = self.servers.replace()
        self.servers.fork("during", [])
        self.assertEqual(self.made[0].forked, ["during"])
        self.made[1].ready()
        self.successResultOf(replaced)
        self.assertTrue(self.made[0].stopped)
        self.assertEqual(self.servers.status().restarts, 1)
        self.servers.fork("after", [])
        self.assertEqual(self.made[1].forked, ["after"])

    def test_aFailedReloadKeepsTheOldOne(self) -> None:
        """If the new fork server cannot start, the old one stays, and the reason is kept."""
        self.servers.start()
        self.made[0].ready()
        replaced = self.servers.replace()
        self.made[1].fail("SyntaxError in myapp.py")
        self.failureResultOf(replaced, ForkServerError)
        self.assertIs(self.servers.current, self.made[0])
        self.assertFalse(self.made[0].stopped)
        self.assertIn("SyntaxError", self.servers.status().failure or "")

    def test_theOldOnesDeathAfterAReloadIsNotRestarted(self) -> None:
        """Only the current fork server's death starts another."""
        self.servers.start()
        self.made[0].ready()
        self.servers.replace()
        self.made[1].ready()
        self.made[0].onGone("exited")
        self.clock.advance(60)
        self.assertEqual(len(self.made), 2)

    def test_stopStartsNoOther(self) -> None:
        """After stop, a death is not followed by a restart."""
        self.servers.start()
        self.made[0].ready()
        self.servers.stop()
        self.assertTrue(self.made[0].stopped)
        self.made[0].onGone("exited")
        self.clock.advance(60)
        self.assertEqual(len(self.made), 1)
