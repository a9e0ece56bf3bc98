"""Tests of L{recycler.master.notify}: what the master tells systemd, and when."""

from __future__ import annotations

import os
import socket

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.events import WorkerEvent
from recycler.master.notify import (
    NOTIFY_VARIABLES,
    STATUS_INTERVAL,
    SystemdNotifier,
    datagramSender,
    systemdNotifier,
    watchdogInterval,
)
from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.service import RecyclerService
from recycler.master.spawn import WorkerCommand
from recycler.tap import Options, workerCommand
from recycler.testing import FakeProcessReactor


class FakeListeners:
    """One shared socket, fd 7, that binds and closes at once."""

    def listen(self) -> Deferred[object]:
        return succeed([])

    def filenos(self) -> list[int]:
        return [7]

    def close(self) -> Deferred[object]:
        return succeed(None)


class NotifierTestCase(SynchronousTestCase):
    """A pool of 2 workers on a fake reactor, whose notifier's messages land in a list."""

    def setUp(self) -> None:
        self.reactor = FakeProcessReactor()
        self.sent: list[str] = []
        self.notifier = SystemdNotifier(self.reactor, self.sent.append, monotonic=lambda: 12.5)

    def makePool(self, prepare: Deferred[None] | None = None) -> WorkerPool:
        """Two workers, no TTL; C{prepare}, if given, is what preparing a reload returns."""
        prepareReload = None if prepare is None else (lambda: prepare)
        pool = WorkerPool(
            self.reactor,
            WorkerCommand("/py", [], {}, FakeListeners()),
            PoolConfig(target=2),
            random=lambda: 0.5,
            prepareReload=self.notifier.announcingReload(prepareReload),
        )
        self.notifier.start(pool)
        pool.startService()
        return pool

    def readyPool(self) -> WorkerPool:
        """A pool whose two workers are ready, with what it sent so far forgotten."""
        pool = self.makePool()
        for process in self.reactor.processes:
            process.send("ready")
        self.reactor.advance(STATUS_INTERVAL)
        del self.sent[:]
        return pool


class ReadyTests(NotifierTestCase):
    """C{READY=1} once every worker of the first generation is ready, with the counts."""

    def test_readyOnceAllWorkersAre(self) -> None:
        """One ready worker of two is not ready; the second one is, with a C{STATUS=}."""
        self.makePool()
        first, second = self.reactor.processes
        first.send("ready")
        self.assertNotIn("READY=1", "\n".join(self.sent))
        second.send("ready")
        self.assertIn("READY=1\nSTATUS=2 ready, 0 starting, 0 draining; 0 recycled", self.sent)

    def test_readyAfterScalingDown(self) -> None:
        """
        A pool scaled down to the workers it has ready is ready: C{READY=1}
        comes once the extra starting worker is retired, with no other worker
        becoming ready.
        """
        pool = self.makePool()
        self.reactor.processes[0].send("ready")
        pool.scale(1)
        self.assertIn("READY=1", "\n".join(self.sent))

    def test_readyAfterScalingDownDuringABackoff(self) -> None:
        """
        A scale-down that retires no worker (the other one failed to start and
        the pool is waiting to retry) still sends C{READY=1}.
        """
        pool = self.makePool()
        first, second = self.reactor.processes
        first.send("ready")
        second.exit(1)
        pool.scale(1)
        self.assertIn("READY=1", "\n".join(self.sent))

    def test_readyOnlyOnce(self) -> None:
        """Later generations becoming ready (a recycle) send no C{READY=1}."""
        pool = self.readyPool()
        pool.recycle(1)
        self.reactor.processes[-1].send("ready")
        self.reactor.advance(STATUS_INTERVAL)
        self.assertNotIn("READY=1", "\n".join(self.sent))

    def test_notReadyWhileStopping(self) -> None:
        """A worker that becomes ready after the master started stopping sends no C{READY=1}."""
        pool = self.makePool()
        self.notifier.stopping()
        pool.stopService()
        for process in self.reactor.processes:
            process.send("ready")
        self.assertEqual([m for m in self.sent if "READY" in m], [])


class StatusTests(NotifierTestCase):
    """C{STATUS=} follows the counts, at most once a second."""

    def test_statusFollowsTheCounts(self) -> None:
        """The spawns are told at once (the reactor's next turn), a recycle counted once done."""
        pool = self.makePool()
        self.reactor.advance(0)
        self.assertEqual(self.sent, ["STATUS=0 ready, 2 starting, 0 draining; 0 recycled"])
        for process in self.reactor.processes:
            process.send("ready")
        self.reactor.advance(STATUS_INTERVAL)
        del self.sent[:]
        pool.recycle(1)
        self.reactor.processes[-1].send("ready")
        self.reactor.processes[0].exit()
        self.reactor.advance(STATUS_INTERVAL)
        self.assertEqual(self.sent, ["STATUS=2 ready, 0 starting, 0 draining; 1 recycled"])

    def test_atMostOnceASecond(self) -> None:
        """Changes within a second are sent once, a second after the last update."""
        pool = self.readyPool()
        self.reactor.advance(STATUS_INTERVAL)
        pool.scale(4)
        self.reactor.advance(0)
        self.assertEqual(self.sent, ["STATUS=2 ready, 2 starting, 0 draining; 0 recycled"])
        self.reactor.processes[2].send("ready")
        self.reactor.processes[3].send("ready")
        self.reactor.advance(STATUS_INTERVAL / 2)
        self.assertEqual(len(self.sent), 1)
        self.reactor.advance(STATUS_INTERVAL / 2)
        self.assertEqual(self.sent[1:], ["STATUS=4 ready, 0 starting, 0 draining; 0 recycled"])

    def test_unchangedCountsAreNotResent(self) -> None:
        """Events that leave the counts as they were send nothing."""
        pool = self.readyPool()
        pool.log.info("respawning", event=WorkerEvent.RESPAWN, workerId=9)
        self.reactor.advance(STATUS_INTERVAL)
        self.assertEqual(self.sent, [])

    def test_crashStreak(self) -> None:
        """Workers that fail to start are in the status."""
        self.makePool()
        self.reactor.processes[0].exit(3)
        self.reactor.advance(0)
        self.assertIn("; 1 failed to start in a row", self.sent[-1])


class ReloadTests(NotifierTestCase):
    """C{RELOADING=1} when a reload starts, C{READY=1} once it is done or aborted."""

    def test_reloadingThenReadyOnceEveryWorkerIsReplaced(self) -> None:
        """
        C{RELOADING=1} with C{MONOTONIC_USEC} at once; C{READY=1} only once
        both old workers were replaced, one at a time, and stopped serving.
        """
        pool = self.readyPool()
        pool.reload()
        self.assertEqual(self.sent, ["RELOADING=1\nMONOTONIC_USEC=12500000"])
        self.assertEqual(len(self.reactor.processes), 3, "one replacement at a time")
        self.reactor.processes[2].send("ready")  # worker 1 drains, worker 2 retires
        self.assertNotIn("READY=1", "\n".join(self.sent))
        self.reactor.processes[3].send("ready")  # worker 2 drains
        ready = [m for m in self.sent if m.startswith("READY=1")]
        self.assertEqual(ready, ["READY=1\nSTATUS=2 ready, 0 starting, 2 draining; 0 recycled"])

    def test_waitsForThePreparation(self) -> None:
        """With a new fork server to start first, C{READY=1} waits for it and the workers."""
        prepare: Deferred[None] = Deferred()
        pool = self.makePool(prepare)
        for process in self.reactor.processes:
            process.send("ready")
        pool.reload()
        self.assertIn("RELOADING=1\nMONOTONIC_USEC=12500000", self.sent)
        self.assertEqual(len(self.reactor.processes), 2, "nothing recycled while preparing")
        prepare.callback(None)
        self.reactor.processes[2].send("ready")
        self.reactor.processes[3].send("ready")
        self.assertEqual(self.sent[-1].split("\n")[0], "READY=1")

    def test_abortedReloadIsReadyAtOnce(self) -> None:
        """A reload whose preparation fails (the new fork server) is done: C{READY=1}."""
        pool = WorkerPool(
            self.reactor,
            WorkerCommand("/py", [], {}, FakeListeners()),
            PoolConfig(target=1),
            prepareReload=self.notifier.announcingReload(lambda: fail(OSError("no fork server"))),
        )
        self.notifier.start(pool)
        pool.startService()
        self.reactor.processes[0].send("ready")
        del self.sent[:]
        with capturedLogs() as events:
            pool.reload()
        self.assertEqual([m.split("\n")[0] for m in self.sent], ["RELOADING=1", "READY=1"])
        self.assertIn("reload aborted: no fork server", [formatEvent(e) for e in events])
        self.assertEqual(len(self.reactor.processes), 1)

    def test_noReloadAnnouncedBeforeReady(self) -> None:
        """A reload before the first workers are ready is part of the start: nothing sent."""
        pool = self.makePool()
        pool.reload()
        self.assertEqual([m for m in self.sent if "RELOADING" in m], [])

    def test_noReadyOnceStopping(self) -> None:
        """A reload cut short by a stop never says C{READY=1} after C{STOPPING=1}."""
        pool = self.readyPool()
        pool.reload()
        self.notifier.stopping()
        pool.stopService()
        for process in self.reactor.alive():
            process.exit()
        told = [m.split("\n")[0] for m in self.sent if not m.startswith("STATUS=")]
        self.assertEqual(told, ["RELOADING=1", "STOPPING=1"])


class WatchdogTests(SynchronousTestCase):
    """C{WATCHDOG=1} at the interval systemd asked for, from the start."""

    def test_pings(self) -> None:
        """A ping at once, then one every interval."""
        reactor, sent = FakeProcessReactor(), []
        notifier = SystemdNotifier(reactor, sent.append, watchdog=5.0)
        pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, FakeListeners()), PoolConfig())
        notifier.start(pool)
        self.assertEqual(sent, ["WATCHDOG=1"])
        reactor.advance(4)
        self.assertEqual(sent, ["WATCHDOG=1"])
        reactor.advance(1)
        reactor.advance(5)
        self.assertEqual(sent, ["WATCHDOG=1"] * 3)

    def test_noWatchdog(self) -> None:
        """Without an interval there are no pings."""
        reactor, sent = FakeProcessReactor(), []
        notifier = SystemdNotifier(reactor, sent.append)
        notifier.start(
            WorkerPool(reactor, WorkerCommand("/py", [], {}, FakeListeners()), PoolConfig())
        )
        reactor.advance(3600)
        self.assertEqual(sent, [])

    def test_halfOfWatchdogUsec(self) -> None:
        """The interval is half of C{WATCHDOG_USEC}, for this pid or any pid."""
        self.assertEqual(watchdogInterval({"WATCHDOG_USEC": "10000000"}, 42), 5.0)
        environ = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "42"}
        self.assertEqual(watchdogInterval(environ, 42), 1.5)

    def test_anotherPidsWatchdog(self) -> None:
        """C{WATCHDOG_PID} naming another process (say, a wrapper's) means no pings."""
        environ = {"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "41"}
        self.assertIsNone(watchdogInterval(environ, 42))
        self.assertIsNone(watchdogInterval({}, 42))

    def test_badWatchdogUsec(self) -> None:
        """A value that is not a positive number of microseconds is ignored, with a warning."""
        for bad in ("soon", "0", "-5", ""):
            with capturedLogs() as events:
                self.assertIsNone(watchdogInterval({"WATCHDOG_USEC": bad}, 42))
            self.assertIn(f"WATCHDOG_USEC={bad!r} is not a number", formatEvent(events[0]))


class ServiceTests(SynchronousTestCase):
    """The service starts the notifier with the pool and says C{STOPPING=1} when it stops."""

    def test_readyThenStopping(self) -> None:
        """C{READY=1} once its workers are ready, C{STOPPING=1} as soon as it stops."""
        reactor, sent = FakeProcessReactor(), []
        notifier = SystemdNotifier(reactor, sent.append)
        listeners = FakeListeners()
        pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, listeners), PoolConfig(target=2))
        service = RecyclerService(
            reactor, listeners, pool, installSignals=None, exit=[].append, notifier=notifier
        )
        service.startService()
        for process in reactor.processes:
            process.send("ready")
        self.assertEqual([m.split("\n")[0] for m in sent], ["READY=1"])
        stopped = service.stopService()
        self.assertEqual(sent[-1], "STOPPING=1")
        self.assertNoResult(stopped)
        for process in reactor.processes:
            process.exit()
        self.successResultOf(stopped)


class SendingTests(SynchronousTestCase):
    """Messages go as datagrams to C{NOTIFY_SOCKET}; a failure never stops the master."""

    def receiver(self, address: str) -> socket.socket:
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind(address)
        receiver.settimeout(5)
        return receiver

    def test_path(self) -> None:
        """A path is a socket file."""
        path = self.mktemp()
        receiver = self.receiver(path)
        datagramSender(path)("READY=1\nSTATUS=ok")
        self.assertEqual(receiver.recv(4096), b"READY=1\nSTATUS=ok")

    def test_abstract(self) -> None:
        """C{@name} is the abstract address C{\\0name}."""
        name = f"recycler-test-{os.getpid()}-{id(self)}"
        receiver = self.receiver("\0" + name)
        datagramSender("@" + name)("WATCHDOG=1")
        self.assertEqual(receiver.recv(4096), b"WATCHDOG=1")

    def test_failureLoggedOnce(self) -> None:
        """A socket that is gone is logged once, not at every message, and raises nothing."""
        reactor = FakeProcessReactor()
        notifier = SystemdNotifier(reactor, datagramSender(self.mktemp()), watchdog=1.0)
        with capturedLogs() as events:
            notifier.start(
                WorkerPool(reactor, WorkerCommand("/py", [], {}, FakeListeners()), PoolConfig())
            )
            reactor.advance(1)
            reactor.advance(1)
        self.assertEqual(len(events), 1)
        self.assertIn("cannot notify systemd", events[0]["log_format"])

    def test_fromTheEnvironment(self) -> None:
        """A notifier only with C{NOTIFY_SOCKET} set to a unix socket (path or abstract)."""
        reactor = FakeProcessReactor()
        self.assertIsNone(systemdNotifier(reactor, {}, 42))
        self.assertIsNone(systemdNotifier(reactor, {"NOTIFY_SOCKET": ""}, 42))
        self.assertIsNotNone(systemdNotifier(reactor, {"NOTIFY_SOCKET": "@x"}, 42))
        self.assertIsNotNone(systemdNotifier(reactor, {"NOTIFY_SOCKET": "/run/x"}, 42))
        with capturedLogs() as events:
            self.assertIsNone(systemdNotifier(reactor, {"NOTIFY_SOCKET": "vsock:2:9"}, 42))
        self.assertIn("not a unix socket", events[0]["log_format"])

    def test_workersGetNoNotifyVariables(self) -> None:
        """
        The workers' (and the fork server's) environment has none of systemd's
        variables, nor the master's own arguments (C{RECYCLER_CMD_ARGS}: a token, say).
        """
        names = (*NOTIFY_VARIABLES, "RECYCLER_CMD_ARGS", "KEEP")
        self.patch(os, "environ", {name: "--workers 1" for name in names})
        options = Options()
        options.parseOptions(["--admin", "none"])
        env = workerCommand(options, FakeListeners()).env
        self.assertEqual(set(env), {"KEEP", "PYTHONUNBUFFERED"})
