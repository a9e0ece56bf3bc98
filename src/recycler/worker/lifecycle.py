# -*- test-case-name: tests.worker.test_lifecycle -*-
"""A worker's life once it serves: ready, heartbeat, stop, drain, final status.

Ready, then a status report every interval (the master's heartbeat), until it
is asked to stop: the drain command, SIGTERM, or the master's death. Each way
stops the reactor, whose "before shutdown" trigger drains: stop accepting,
drain the server, stop listening, report the final counters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort, IReactorCore
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from recycler import wire
from recycler.worker.drain import IDrainable, abortDelay


class Worker:
    """
    Serves one app on adopted ports until asked to stop, then drains.

    @ivar server: The drainable factory serving the app.
    @ivar ports: The adopted listening ports.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorCore,
        server: IDrainable,
        ports: Sequence[IListeningPort],
        idleGrace: float,
        grace: float,
        statusInterval: float,
        send: Callable[..., object],
    ) -> None:
        """
        @param reactor: Also the clock of the status reports (C{IReactorTime}).
        @param idleGrace: Seconds idle connections get once draining.
        @param grace: The master's grace: it SIGKILLs a worker still draining
            after that many seconds, so the worker aborts its leftover
            connections a little before (L{abortDelay}).
        @param statusInterval: Seconds between status reports.
        @param send: Sends one event to the master, like
            L{recycler.worker.link.sendEvent}.
        """
        self._reactor = reactor
        self.server = server
        self.ports = list(ports)
        self._idleGrace = idleGrace
        self._grace = grace
        self._send = send
        self._stopping = False
        self._listening = True
        self._status = LoopingCall(self.reportStatus)
        self._status.clock = reactor
        self._statusInterval = statusInterval

    def start(self) -> None:
        """Report ready and start the periodic status reports."""
        self._reactor.addSystemEventTrigger("before", "shutdown", self._drain)
        self._send(wire.Event.READY, pid=os.getpid())
        self._status.start(self._statusInterval, now=False)

    def reportStatus(self) -> None:
        """Tell the master how many requests were served and are in flight."""
        self._send(wire.Event.STATUS, served=self.server.served, inFlight=self.server.inFlight)

    def stop(self) -> None:
        """Drain and exit (through the reactor's shutdown)."""
        if not self._stopping:
            self._stopping = True
            self._reactor.stop()

    def masterGone(self) -> None:
        """The master died: release the port at once so a new master can bind it, then drain."""
        if not self._stopping:
            self.log.warn("master is gone; draining and exiting")
        self._stopListening()
        self.stop()

    def _drain(self) -> Deferred[object]:
        self._stopping = True
        for port in self.ports:
            port.stopReading()
        drained = self.server.drain(self._idleGrace, abortDelay(self._grace))
        drained.addCallback(lambda _: self._stopListening())
        drained.addCallback(self._finished)
        return drained

    def _stopListening(self) -> Deferred[object]:
        if not self._listening:
            return succeed(None)
        self._listening = False
        return DeferredList([port.stopListening() for port in self.ports])

    def _finished(self, _: object) -> None:
        if self._status.running:
            self._status.stop()
        self.reportStatus()
