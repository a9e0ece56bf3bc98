# -*- test-case-name: tests.master.test_pool -*-
"""Crash-loop backoff: workers that die before they are ready are retried ever more slowly.

The first failure of a streak is logged as an error with its reason and the
app's traceback, the rest at debug level; one retry is pending at a time; the
streak ends when a worker becomes ready, or when the pool has all its workers
without one more. The healthy workers are never touched. A pool where no worker
was ever ready gives up once its first attempts all failed the same way: the
app cannot start, and retrying forever would only hide it.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from recycler.master.policy import Random, crashBackoff

GIVE_UP_AFTER = 3
"""Attempts (the first start, then two retries: about 2 s) that failed alike, no worker
ever ready, after which the pool gives up."""


class CrashBackoff:
    """
    The pool's crash streak and its pending retry.

    @ivar streak: Consecutive workers that failed to start.
    @ivar everReady: Whether any worker of the pool was ever ready.
    @ivar gaveUp: Fires with the reason if the pool gives up (no worker ever ready).
    """

    def __init__(
        self, clock: IReactorTime, random: Random, retry: Callable[[], None], log: Logger
    ) -> None:
        self.streak = 0
        self.everReady = False
        self.gaveUp: Deferred[str] = Deferred()
        self._sameFailures: list[str] = []
        self._clock = clock
        self._delay = crashBackoff(random)
        self._retries = 0
        self._retry = retry
        self._call: IDelayedCall | None = None
        self.log = log

    @property
    def waiting(self) -> bool:
        """Whether a retry is pending (or the pool gave up): no worker may be spawned."""
        return self._call is not None or self.gaveUp.called

    def nextRetryIn(self) -> float | None:
        """Seconds until the pending retry, or L{None}."""
        if self._call is None or not self._call.active():
            return None
        return max(0.0, self._call.getTime() - self._clock.seconds())

    def failed(self, why: str, cause: str, traceback: str | None = None) -> None:
        """
        A worker could not start (C{why}, for the log; C{cause}, the same for
        every worker that fails the same way): retry after a growing delay, or
        give up if no worker was ever ready and its first attempts (the first
        start, then each retry; the other failures of a batch do not count) all
        failed alike.
        """
        self.streak += 1
        if self.streak == 1:
            self.log.error(
                "{why}; retrying with backoff (logged once until a worker is ready){traceback}",
                why=why,
                traceback=f"\n{traceback.rstrip()}" if traceback else "",
            )
        else:
            self.log.debug("{why}; failure {failures}", why=why, failures=self.streak)
        if self.gaveUp.called or self._call is not None:
            return  # the rest of a batch: the pending retry is the next attempt
        if not self.everReady:
            self._sameFailures = [c for c in self._sameFailures if c == cause] + [cause]
            if len(self._sameFailures) >= GIVE_UP_AFTER:
                return self._giveUp(cause)
        delay = self._delay(self._retries)
        self._retries += 1
        self._call = self._clock.callLater(delay, self._retryNow)

    def recovered(self, workerId: int) -> None:
        """A worker became ready: the streak (if any) is over."""
        self.everReady = True
        self.over(f"worker {workerId} is ready")

    def over(self, why: str) -> None:
        """The streak (if any) is over: the pool needs no retry."""
        if self.streak:
            self.log.info(
                "{why}: recovered after {failures} failed start(s)", why=why, failures=self.streak
            )
        self.streak = self._retries = 0
        self.cancel()

    def cancel(self) -> None:
        """Drop the pending retry (the pool is stopping)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _giveUp(self, cause: str) -> None:
        self.cancel()
        self.log.critical(
            "no worker ever became ready: {attempts} attempts failed the same way "
            "({cause}); giving up",
            attempts=len(self._sameFailures),
            cause=cause,
        )
        self.gaveUp.callback(cause)

    def _retryNow(self) -> None:
        self._call = None
        self._retry()
