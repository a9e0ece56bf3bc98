# -*- test-case-name: tests.admin.test_commands -*-
"""What the admin port reads and drives of the pool, as C{typing.Protocol}s.

Structural types rather than zope Interfaces: the pool and its worker handles
are the only implementations, nothing adapts to them, and a type checker
verifies them (and the tests' fakes) without C{implementer} declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from twisted.logger import LogPublisher

from recycler.master.events import StopReason
from recycler.master.lifecycle import WorkerState
from recycler.master.policy import TTLRange
from recycler.master.stats import PoolStats


class AdminWorker(Protocol):
    """What C{list} shows of one live worker (the pool's worker handle)."""

    @property
    def workerId(self) -> int: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def state(self) -> WorkerState: ...

    @property
    def spawnedAt(self) -> float: ...

    @property
    def served(self) -> int: ...

    @property
    def inFlight(self) -> int: ...

    @property
    def spawnMode(self) -> str: ...

    @property
    def startup(self) -> float | None: ...

    def ttlLeft(self, now: float) -> float | None:
        """Seconds until its TTL runs out, or L{None} if none is counting."""


W = TypeVar("W", bound=AdminWorker)


class AdminPool(Protocol[W]):
    """
    What the admin commands drive (L{recycler.master.pool.WorkerPool}), generic
    in its worker handles (C{W}): what L{workers} gives, L{pendingReason} takes.

    Every request may raise L{recycler.master.config.PoolError}, whose message is
    meant for the operator.
    """

    @property
    def target(self) -> int: ...

    @property
    def ttl(self) -> TTLRange | None: ...

    @property
    def workers(self) -> Mapping[int, W]:
        """Live workers by id."""

    @property
    def events(self) -> LogPublisher:
        """The pool's one event channel; C{watch} observes it."""

    def pendingReason(self, worker: W) -> StopReason | None:
        """Why C{worker} is stopping, or is queued to be recycled; L{None} if not."""

    def setTTL(self, ttl: TTLRange | None) -> None:
        """Use C{ttl} for workers spawned from now on (L{None}: no TTL)."""

    def spawn(self, count: int) -> None:
        """Raise the target by C{count}."""

    def scale(self, target: int) -> None:
        """Keep C{target} workers."""

    def reload(self) -> None:
        """Recycle every worker, replacements first."""

    def recycle(self, workerId: int) -> None:
        """Recycle one worker gracefully, its replacement first."""

    def kill(self, workerId: int, force: bool = False) -> None:
        """SIGKILL one worker now (C{force}: even if that lowers capacity)."""

    def stats(self) -> PoolStats:
        """The pool's counters now."""
