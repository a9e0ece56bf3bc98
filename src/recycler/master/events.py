# -*- test-case-name: tests.master.test_pool -*-
"""The master's vocabulary: worker event kinds, why workers stop, the pool's event channel."""

from __future__ import annotations

import enum

from twisted.logger import ILogObserver, Logger, LogPublisher, globalLogPublisher


class WorkerEvent(enum.StrEnum):
    """A step in a worker's life; every log event of one carries it as C{event}."""

    BORN = "born"
    READY = "ready"
    RETIRING = "retiring"
    DRAINING = "draining"
    KILLED = "killed"
    EXITED = "exited"
    RESPAWN = "respawn"


class StopReason(enum.StrEnum):
    """Why the master stops a worker; the values are what operators see."""

    TTL = "ttl"
    MAX_REQUESTS = "max-requests"
    MAX_RSS = "max-rss"
    RECYCLE = "manual"
    """An operator's graceful C{kill ID}."""
    RELOAD = "reload"
    SCALE = "scale"
    STOP = "stop"
    """The pool is stopping."""
    KILL = "kill"
    """An operator's C{kill ID --now}: SIGKILL at once."""
    HUNG = "timeout"
    """No heartbeat for C{--timeout} seconds while ready."""
    BOOT_TIMEOUT = "boot-timeout"
    GRACE_EXPIRED = "grace expired"

    @property
    def planned(self) -> bool:
        """Whether the worker was healthy when it was stopped (a recycle, not a failure)."""
        return self not in (StopReason.HUNG, StopReason.BOOT_TIMEOUT)


RECYCLES = frozenset(
    {
        StopReason.TTL,
        StopReason.MAX_REQUESTS,
        StopReason.MAX_RSS,
        StopReason.RECYCLE,
        StopReason.RELOAD,
    }
)
"""Reasons that replace a healthy worker: the recycles C{--max-draining} bounds."""

CRASH = "crash"
"""The recycle counter of workers that exited without being asked to."""


def eventChannel(*observers: ILogObserver) -> LogPublisher:
    """
    A pool's event channel: every event it and its workers log goes through it
    once, to the global log and to whoever observes it (the admin C{watch}).
    """
    return _EventChannel(globalLogPublisher, *observers)


class _EventChannel(LogPublisher):
    """
    A publisher that drops an observer once it raised (its failure is logged
    once), where Twisted's would log a failure on every later event. It uses
    the hook L{LogPublisher} calls for a broken observer; a test fails if a
    Twisted release renames it.
    """

    def _errorLoggerForObserver(self, observer: ILogObserver) -> Logger:
        self.removeObserver(observer)
        return super()._errorLoggerForObserver(observer)
