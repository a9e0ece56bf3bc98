# -*- test-case-name: tests.master.test_pool -*-
"""A frozen snapshot of a pool's counters: what C{stats}, C{metrics} and C{list} read."""

from __future__ import annotations

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

    @property
    def live(self) -> int:
        """Workers not yet exited."""
        return self.starting + self.ready + self.draining


class LiveWorker(Protocol):
    """What a snapshot reads of a live worker (a L{recycler.master.handle.WorkerHandle})."""

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
        )
