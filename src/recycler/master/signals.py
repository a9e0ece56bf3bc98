# -*- test-case-name: tests.master.test_signals -*-
"""The master's signal table: which signal asks what of the service and its pool.

The handlers only hand the signal to the reactor thread (C{callFromThread});
the action runs there, logged, like an admin command. They replace the
reactor's own SIGTERM/SIGINT handlers, which re-raise the signal at exit
instead of exiting 0.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from typing import Protocol

from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger

log = Logger()


class SignalTarget(Protocol):
    """What signals drive (L{recycler.master.service.RecyclerService})."""

    def stop(self) -> None:
        """Drain every worker, close the sockets, exit 0."""

    def reload(self) -> None:
        """Replace every worker, one at a time, replacement first."""

    def resize(self, delta: int) -> None:
        """Run C{delta} more (or fewer) workers."""


def signalTable(target: SignalTarget) -> dict[signal.Signals, Callable[[], None]]:
    """
    The master's signals:

     - SIGTERM, SIGINT: drain every worker, close the sockets, exit 0;
     - SIGHUP: rolling reload of every worker (as the admin C{reload});
     - SIGTTIN, SIGTTOU: one worker more, one fewer (gunicorn's convention).
    """
    return {
        signal.SIGTERM: target.stop,
        signal.SIGINT: target.stop,
        signal.SIGHUP: target.reload,
        signal.SIGTTIN: lambda: target.resize(1),
        signal.SIGTTOU: lambda: target.resize(-1),
    }


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
