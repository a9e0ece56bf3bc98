# -*- test-case-name: tests.master.test_stats -*-
"""A frozen snapshot of a pool's counters: what C{stats}, C{metrics} and C{list} read."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs


@attrs.frozen
class ForkServerStatus:
    """
    What operators see of the fork server (C{--spawn fork}).

    @ivar pid: The current fork server's pid, or L{None} while there is none.
    @ivar ready: Whether workers can be forked now.
    @ivar restarts: Fork servers started after the first (deaths and reloads).
    @ivar failure: Why the last one died or failed to start, if it did.
    """

    pid: int | None
    ready: bool
    restarts: int
    failure: str | None


STARTUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the spawn-to-ready histogram's buckets: a forked
worker is ready in about 10 ms, an exec'd one in 0.2-0.4 s, a heavy app in seconds."""


@attrs.frozen
class Histogram:
    """
    Observations counted in buckets, as a Prometheus histogram counts them.

    @ivar bounds: The buckets' upper bounds, ascending; a last bucket, C{+Inf}, follows.
    @ivar counts: Observations in each bucket (not cumulative): one more than C{bounds}.
    @ivar sum: The sum of every observation.
    """

    bounds: tuple[float, ...] = STARTUP_BUCKETS
    counts: tuple[int, ...] = attrs.field(
        default=attrs.Factory(lambda self: (0,) * (len(self.bounds) + 1), takes_self=True)
    )
    sum: float = 0.0

    @property
    def count(self) -> int:
        """How many observations there were."""
        return sum(self.counts)

    def observe(self, value: float) -> Histogram:
        """This histogram with C{value} counted in the first bucket whose bound is C{>= value}."""
        index = bisect.bisect_left(self.bounds, value)
        counts = list(self.counts)
        counts[index] += 1
        return attrs.evolve(self, counts=tuple(counts), sum=self.sum + value)

    def cumulative(self) -> list[tuple[float, int]]:
        """C{(upper bound, observations at most that)} per bucket, ending with C{+Inf}."""
        total, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


@attrs.frozen
class PoolStats:
    """
    The pool at one moment. Totals are monotonic across recycling.

    @ivar uptime: Seconds since the pool started.
    @ivar target: Workers the pool keeps.
    @ivar starting: Workers not ready yet.
    @ivar ready: Workers serving (a retiring worker serves until its replacement is ready).
    @ivar draining: Workers finishing their work (or killed, not yet reaped).
    @ivar born: Workers spawned.
    @ivar exited: Workers that exited.
    @ivar killed: Workers the master had to SIGKILL.
    @ivar served: Requests completed by every worker, live or gone.
    @ivar inFlight: Requests in progress now.
    @ivar spawnFailures: Workers that could not start.
    @ivar recycles: Exited workers by why they stopped (a L{StopReason} value or C{"crash"}).
    @ivar crashStreak: Consecutive workers that failed to start.
    @ivar nextRespawnIn: Seconds until the next start attempt while backing off, or L{None}.
    @ivar spawn: How workers start: C{"fork"} or C{"exec"}.
    @ivar forkServer: The fork server, when workers are forked.
    @ivar startups: Seconds from spawn to ready of every worker that became ready.
    @ivar servedByWorker: Requests completed by each live worker, by worker id.

    Snapshots compare equal by their counts: C{startups} and C{servedByWorker}
    (the detail behind C{born} and C{served}) are left out of C{==}.
    """

    uptime: float
    target: int
    starting: int
    ready: int
    draining: int
    born: int
    exited: int
    killed: int
    served: int
    inFlight: int
    spawnFailures: int
    recycles: Mapping[str, int]
    crashStreak: int
    nextRespawnIn: float | None
    spawn: str = "exec"
    forkServer: ForkServerStatus | None = None
    startups: Histogram = attrs.field(default=Histogram(), eq=False)
    servedByWorker: Mapping[int, int] = attrs.field(factory=dict, eq=False)

    @property
    def live(self) -> int:
        """Workers not yet exited."""
        return self.starting + self.ready + self.draining


class LiveWorker(Protocol):
    """What a snapshot reads of a live worker (a L{recycler.master.handle.WorkerHandle})."""

    workerId: int
    served: int
    inFlight: int

    @property
    def phase(self) -> str: ...


@attrs.define
class PoolTotals:
    """The pool's monotonic counters, kept across its workers' lives."""

    born: int = 0
    exited: int = 0
    killed: int = 0
    served: int = 0
    spawnFailures: int = 0
    recycles: Counter[str] = attrs.field(factory=Counter)
    startups: Histogram = Histogram()

    def ready(self, startup: float | None) -> float | None:
        """A worker became ready C{startup} seconds after its spawn; returns C{startup}."""
        if startup is not None:
            self.startups = self.startups.observe(startup)
        return startup

    def ended(self, served: int, killed: bool, why: str | None) -> None:
        """A worker exited after serving C{served}; C{why} it stopped (L{None}: not counted)."""
        self.exited += 1
        self.served += served
        self.killed += killed
        if why is not None:
            self.recycles[why] += 1

    def snapshot(
        self,
        live: Iterable[LiveWorker],
        uptime: float,
        target: int,
        crashStreak: int,
        nextRespawnIn: float | None,
        spawn: str = "exec",
        forkServer: ForkServerStatus | None = None,
    ) -> PoolStats:
        """The pool now, with the C{live} workers' counts added."""
        live = list(live)
        phases = Counter(worker.state.phase for worker in live)
        return PoolStats(
            uptime=uptime,
            target=target,
            starting=phases["starting"],
            ready=phases["ready"],
            draining=phases["draining"],
            born=self.born,
            exited=self.exited,
            killed=self.killed,
            served=self.served + sum(worker.served for worker in live),
            inFlight=sum(worker.inFlight for worker in live),
            spawnFailures=self.spawnFailures,
            recycles=dict(self.recycles),
            crashStreak=crashStreak,
            nextRespawnIn=nextRespawnIn,
            spawn=spawn,
            forkServer=forkServer,
            startups=self.startups,
            servedByWorker={worker.workerId: worker.served for worker in live},
        )
