# -*- test-case-name: tests.master.test_signals -*-
"""The master's signal table: which signal asks what of the service and its pool.

The handlers only hand the signal to the reactor thread (C{callFromThread});
the action runs there, logged, like an admin command. They replace the
reactor's own SIGTERM/SIGINT handlers, which re-raise the signal at exit
instead of exiting 0, and twistd's SIGUSR1 handler, which rotates its log file
itself (a file logrotate already renamed is left as it is). Every signal an
operator may plausibly send is in the table, so that none kills the master
unlogged (SIGUSR1 and SIGUSR2 would by default).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from typing import Protocol

from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger, LogPublisher, globalLogPublisher
from twisted.python.logfile import BaseLogFile

from recycler.master.pool import WorkerPool

log = Logger()


class SignalTarget(Protocol):
    """What signals drive (L{recycler.master.service.RecyclerService})."""

    pool: WorkerPool
    """Whose live workers reopen their access logs on SIGUSR1."""

    def stop(self) -> None:
        """Drain every worker, close the sockets, exit 0."""

    def reload(self) -> None:
        """Replace every worker, one at a time, replacement first."""

    def resize(self, delta: int) -> None:
        """Run C{delta} more (or fewer) workers."""


def signalTable(
    target: SignalTarget, publisher: LogPublisher = globalLogPublisher
) -> dict[signal.Signals, Callable[[], None]]:
    """
    The master's signals (docs/operations.md#signals):

     - SIGTERM, SIGINT, SIGQUIT: drain every worker, close the sockets, exit 0;
     - SIGHUP: rolling reload of every worker (as the admin C{reload});
     - SIGTTIN, SIGTTOU: one worker more, one fewer (gunicorn's convention);
     - SIGUSR1: reopen the log files of C{publisher} (gunicorn's and nginx's),
       and ask every live worker to reopen its access log;
     - SIGUSR2: not supported, logged; SIGWINCH: ignored, logged.
    """

    def reopen() -> None:
        reopenLogFiles(publisher)
        reopenAccessLogs(target.pool)

    return {
        signal.SIGTERM: target.stop,
        signal.SIGINT: target.stop,
        signal.SIGQUIT: target.stop,
        signal.SIGHUP: target.reload,
        signal.SIGTTIN: lambda: target.resize(1),
        signal.SIGTTOU: lambda: target.resize(-1),
        signal.SIGUSR1: reopen,
        signal.SIGUSR2: lambda: log.warn("SIGUSR2 is not supported; ignored"),
        signal.SIGWINCH: lambda: log.info("SIGWINCH ignored"),
    }


def logFiles(publisher: LogPublisher) -> list[BaseLogFile]:
    """
    The log files C{publisher}'s observers write to: twistd's C{--logfile PATH}
    is a L{BaseLogFile} behind a L{twisted.logger.FileLogObserver}. Twisted has
    no public way to reach it, so this reads both objects' private attributes;
    C{--logfile=-}, syslog and the C{twist} runner's files give none.
    """
    outFiles = (getattr(observer, "_outFile", None) for observer in publisher._observers)
    return [outFile for outFile in outFiles if isinstance(outFile, BaseLogFile)]


def reopenLogFiles(publisher: LogPublisher) -> None:
    """
    Reopen each log file at its path, after logrotate renamed it. A file that
    cannot be opened there is left as it is: the lines keep going to the old one.
    """
    found = logFiles(publisher)
    if not found:
        log.info("no log file to reopen (logging to standard output or syslog)")
    for logFile in found:
        try:
            open(logFile.path, "ab").close()
        except OSError as e:
            log.error("cannot reopen {path}: {error}", path=logFile.path, error=str(e))
            continue
        logFile.reopen()
        log.info("reopened the log file {path}", path=logFile.path)


def reopenAccessLogs(pool: WorkerPool) -> None:
    """
    Ask each live worker of C{pool} to reopen its access log, over its command
    pipe: a worker still starting reads the command once it runs (a signal
    could kill it before it installed a handler), and one that has exited
    gets nothing. Workers without an access log ignore it.
    """
    for worker in pool.workers.values():
        worker.reopenLogs()


def installSignalHandlers(
    reactor: IReactorFromThreads,
    actions: Mapping[signal.Signals, Callable[[], None]],
    install: Callable[[int, Callable[[int, object], None]], object] = signal.signal,
) -> None:
    """Run C{actions[signum]} in the reactor thread whenever the master gets C{signum}."""

    def handle(signum: int, frame: object) -> None:
        reactor.callFromThread(_dispatch, signal.Signals(signum), actions[signum])

    for signum in actions:
        install(signum, handle)


def _dispatch(signum: signal.Signals, action: Callable[[], None]) -> None:
    log.info("got {signal}", signal=signum.name)
    action()
