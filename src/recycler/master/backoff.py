# -*- test-case-name: tests.master.test_pool -*-
"""Crash-loop backoff: workers that die before they are ready are retried ever more slowly.

The first failure of a streak is logged as an error with its reason, the rest at
debug level; one retry is pending at a time; the streak ends when a worker
becomes ready. The healthy workers are never touched.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from recycler.master.policy import Random, crashBackoff


class CrashBackoff:
    """
    The pool's crash streak and its pending retry.

    @ivar streak: Consecutive workers that failed to start.
    """

    def __init__(
        self, clock: IReactorTime, random: Random, retry: Callable[[], None], log: Logger
    ) -> None:
        self.streak = 0
        self._clock = clock
        self._delay = crashBackoff(random)
        self._retries = 0
        self._retry = retry
        self._call: IDelayedCall | None = None
        self.log = log

    @property
    def waiting(self) -> bool:
        """Whether a retry is pending: no worker may be spawned until it runs."""
        return self._call is not None

    def nextRetryIn(self) -> float | None:
        """Seconds until the pending retry, or L{None}."""
        if self._call is None or not self._call.active():
            return None
        return max(0.0, self._call.getTime() - self._clock.seconds())

    def failed(self, why: str) -> None:
        """A worker could not start: schedule a retry after a growing delay."""
        self.streak += 1
        if self.streak == 1:
            self.log.error(
                "{why}; retrying with backoff (logged once until a worker is ready)", why=why
            )
        else:
            self.log.debug("{why}; failure {failures}", why=why, failures=self.streak)
        if self._call is None:
            delay = self._delay(self._retries)
            self._retries += 1
            self._call = self._clock.callLater(delay, self._retryNow)

    def recovered(self, workerId: int) -> None:
        """A worker became ready: the streak (if any) is over."""
        if self.streak:
            self.log.info(
                "worker {workerId} is ready: recovered after {failures} failed start(s)",
                workerId=workerId,
                failures=self.streak,
            )
        self.streak = self._retries = 0
        self.cancel()

    def cancel(self) -> None:
        """Drop the pending retry (the pool is stopping)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _retryNow(self) -> None:
        self._call = None
        self._retry()
