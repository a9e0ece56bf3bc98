"""A frozen snapshot of a pool's counters: what C{stats}, C{metrics} and C{list} read.

(test-case-name: tests.master.test_pool)
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs


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

    @property
    def live(self) -> int:
        """Workers not yet exited."""
        return self.starting + self.ready + self.draining
