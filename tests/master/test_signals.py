"""Unit tests of the master's signal table and its dispatch through the reactor thread."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from twisted.logger import LogPublisher, capturedLogs, textFileLogObserver
from twisted.python.logfile import LogFile
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


OPERATOR_SIGNALS = [
    signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTTIN,
    signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
]  # fmt: skip
"""What an operator may plausibly send the master (docs/operations.md#signals)."""


class Listeners:
    def filenos(self) -> list[int]:
        return [7]


def runningService(
    publisher: LogPublisher | None = None,
) -> tuple[RecyclerService, ThreadlessReactor, dict[int, Callable]]:
    """A started service whose signal handlers were installed into a dict."""
    reactor = ThreadlessReactor()
    pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, Listeners()), PoolConfig(2))
    handlers: dict[int, Callable] = {}
    service = RecyclerService(reactor, Listeners(), pool, installSignals=None)  # type: ignore
    table = signalTable(service, publisher or LogPublisher())
    installSignalHandlers(reactor, table, install=handlers.__setitem__)
    pool.startService()
    for process in reactor.processes:
        process.send("ready")
    reactor.running = True
    return service, reactor, handlers


class SignalTableTests(SynchronousTestCase):
    """Each signal an operator sends does what docs/operations.md says."""

    def test_theTable(self) -> None:
        """Every signal an operator may send is handled; nothing else is replaced."""
        _, _, handlers = runningService()
        self.assertEqual(set(handlers), set(OPERATOR_SIGNALS))

    def test_noOperatorSignalKillsTheMasterUnlogged(self) -> None:
        """Each signal is logged by name and handled without raising."""
        for signum in OPERATOR_SIGNALS:
            _, reactor, handlers = runningService()
            reactor.stop = lambda: None  # type: ignore[method-assign]
            with capturedLogs() as events:
                handlers[signum](signum, None)
            self.assertIn(signum.name, [e.get("signal") for e in events])

    def test_quitStopsLikeTerm(self) -> None:
        """SIGQUIT is a graceful stop too (as nginx's), not a core dump."""
        _, reactor, handlers = runningService()
        stops: list[bool] = []
        reactor.stop = lambda: stops.append(True)  # type: ignore[method-assign]
        handlers[signal.SIGQUIT](signal.SIGQUIT, None)
        self.assertEqual(stops, [True])

    def test_usr2AndWinchAreLoggedAndIgnored(self) -> None:
        """SIGUSR2 is not supported and SIGWINCH is ignored: logged, the pool untouched."""
        service, reactor, handlers = runningService()
        with capturedLogs() as events:
            handlers[signal.SIGUSR2](signal.SIGUSR2, None)
            handlers[signal.SIGWINCH](signal.SIGWINCH, None)
        self.assertEqual((service.pool.target, len(reactor.processes)), (2, 2))
        text = [e["log_format"].format(**e) for e in events]
        self.assertIn("SIGUSR2 is not supported; ignored", text)
        self.assertIn("SIGWINCH ignored", text)

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


class LogReopenTests(SynchronousTestCase):
    """SIGUSR1 reopens twistd's log file, as logrotate expects (gunicorn's and nginx's USR1)."""

    def logFile(self) -> tuple[LogFile, LogPublisher]:
        """twistd's --logfile: a LogFile behind a text observer of the publisher."""
        directory = self.mktemp()
        os.mkdir(directory)
        logFile = LogFile.fromFullPath(os.path.join(directory, "twistd.log"))
        self.addCleanup(logFile.close)
        return logFile, LogPublisher(textFileLogObserver(logFile))

    def test_usr1ReopensTheLogFile(self) -> None:
        """After logrotate renamed the file, SIGUSR1 makes the next lines go to a fresh one."""
        logFile, publisher = self.logFile()
        _, _, handlers = runningService(publisher)
        publisher({"log_format": "before", "log_time": 0})
        os.rename(logFile.path, logFile.path + ".1")
        with capturedLogs() as events:
            handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        publisher({"log_format": "after", "log_time": 0})
        with open(logFile.path) as f:
            self.assertEqual([line.split(" ", 2)[-1] for line in f], ["after\n"])
        with open(logFile.path + ".1") as f:
            self.assertIn("before", f.read())
        self.assertEqual([e["path"] for e in events if "path" in e], [logFile.path])

    def test_nothingToReopen(self) -> None:
        """With --logfile=- (standard output) SIGUSR1 only says so."""
        _, _, handlers = runningService()
        with capturedLogs() as events:
            handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        self.assertIn("no log file to reopen", [e["log_format"] for e in events][-1])

    def test_cannotReopen(self) -> None:
        """If the new file cannot be opened, the old one keeps the lines; the error is logged."""
        logFile, publisher = self.logFile()
        _, _, handlers = runningService(publisher)
        moved = logFile.directory + ".old"
        os.rename(logFile.directory, moved)
        with capturedLogs() as events:
            handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        publisher({"log_format": "still here", "log_time": 0})
        with open(os.path.join(moved, "twistd.log")) as f:
            self.assertIn("still here", f.read())
        self.assertIn("No such file", [str(e.get("error")) for e in events][-1])
