"""SIGUSR1 makes every live worker reopen its access log: a C{reopen} line on its command pipe."""

from __future__ import annotations

import signal

from twisted.internet.error import ProcessDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.events import StopReason
from tests.master.test_signals import runningService


class AccessLogReopenTests(SynchronousTestCase):
    """The master asks its workers over their command pipes; none is signalled."""

    def test_everyLiveWorkerIsAsked(self) -> None:
        """
        Starting, ready and draining workers each get one C{reopen} line (a
        starting one reads it once it runs); a worker whose process exited
        (its pid may be reused) gets nothing, nor a signal.
        """
        service, reactor, handlers = runningService()
        exited, draining = reactor.processes
        service.pool.spawn()
        ready = reactor.processes[2]
        ready.send("ready")
        service.pool.workers[2].drain(StopReason.SCALE)
        exited.protocol.processExited(Failure(ProcessDone(0)))  # its pipes still open
        starting = reactor.processes[3:]
        self.assertEqual(len(starting), 2)  # the replacements of the last two
        handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        self.assertEqual(ready.commands(), ["reopen"])
        self.assertEqual([p.commands() for p in starting], [["reopen"]] * 2)
        self.assertEqual(draining.commands(), ["drain", "reopen"])
        self.assertEqual(exited.commands(), [])
        self.assertEqual([p.signals for p in reactor.processes], [[]] * 5)

    def test_closedCommandPipe(self) -> None:
        """A worker whose command pipe is already closed is skipped without an error."""
        _, reactor, handlers = runningService()

        def closed(childFD: int, data: bytes) -> None:
            raise KeyError(childFD)

        reactor.processes[0].writeToChild = closed  # type: ignore[method-assign]
        handlers[signal.SIGUSR1](signal.SIGUSR1, None)
        self.assertEqual(reactor.processes[1].commands(), [wire.Command.REOPEN])
