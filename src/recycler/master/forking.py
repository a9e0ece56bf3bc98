# -*- test-case-name: tests.master.test_forking -*-
"""The fork server workers come from: started first, restarted if it dies, replaced on reload.

(C{--spawn fork}.) L{ForkServers} keeps one L{ForkServer} current and forks
every worker from it. If it dies, the workers already running serve on, forks
fail (the pool backs off) and another one starts after a growing delay. A
reload starts a new one (new code) before anything else; if that one cannot
start, the current one and the workers it forked stay, and the reason is kept
for the admin port.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IProcessProtocol,
    IProcessTransport,
    IReactorTime,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from recycler.master.forkserver import ForkServer, ForkServerError
from recycler.master.policy import Random, crashBackoff
from recycler.master.stats import ForkServerStatus

MakeForkServer = Callable[[Callable[[str], None]], ForkServer]
"""Builds a fork server that calls the given function with why, should it die."""


class ForkServers:
    """The current fork server, and the ones that replace it."""

    log = Logger()

    def __init__(self, clock: IReactorTime, make: MakeForkServer, random: Random = _random.random):
        self.current: ForkServer | None = None
        self.restarts = 0
        self._used = 0
        self.failure: str | None = None
        self._clock = clock
        self._make = make
        self._delay = crashBackoff(random)
        self._retries = 0
        self._retry: IDelayedCall | None = None
        self._stopped = True

    def start(self) -> Deferred[None]:
        """Start the first fork server; fires once it is ready (or fails with why not)."""
        self._stopped = False
        return self._startOne().addCallback(self._use)

    def replace(self) -> Deferred[None]:
        """Start a new fork server (new code); the old one stops once the new one is ready."""
        self.log.info("starting a new fork server (reload)")
        return self._startOne().addCallbacks(self._use, self._replacementFailed)

    def fork(self, protocol: IProcessProtocol, args: Sequence[str]) -> IProcessTransport:
        """Fork a worker from the current fork server (see L{ForkServer.fork})."""
        if self.current is None:
            raise ForkServerError(f"no fork server is running ({self.failure or 'starting'})")
        return self.current.fork(protocol, args)

    def stop(self) -> Deferred[None]:
        """Stop the current fork server and start no other."""
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        current, self.current = self.current, None
        return succeed(None) if current is None else current.stop()

    def status(self) -> ForkServerStatus:
        """The fork server now, for C{list} and C{metrics}."""
        current = self.current
        pid = None if current is None else current.pid
        ready = current is not None and current.running
        return ForkServerStatus(pid, ready, self.restarts, self.failure)

    def _startOne(self) -> Deferred[ForkServer]:
        server: ForkServer | None = None

        def gone(why: str) -> None:
            if server is self.current:
                self._gone(why)

        server = self._make(gone)
        return server.start().addCallback(lambda _: server)

    def _use(self, server: ForkServer) -> None:
        if self._stopped:
            server.stop()
            return
        old, self.current = self.current, server
        self._used += 1
        self.restarts = self._used - 1
        if old is not None:
            old.stop()
        self.failure = None
        self._retries = 0

    def _replacementFailed(self, failure: Failure) -> Failure:
        self.failure = failure.getErrorMessage()
        self.log.error(
            "the new fork server failed: {why}; the current workers serve on", why=self.failure
        )
        return failure

    def _gone(self, why: str) -> None:
        self.current = None
        self.failure = why
        if self._stopped:
            return
        delay = self._delay(self._retries)
        self._retries += 1
        self.log.error(
            "fork server gone ({why}); another starts in {delay:.1f}s", why=why, delay=delay
        )
        self._retry = self._clock.callLater(delay, self._restart)

    def _restart(self) -> None:
        self._retry = None
        self._startOne().addCallbacks(
            self._use, lambda failure: self._gone(failure.getErrorMessage())
        )
