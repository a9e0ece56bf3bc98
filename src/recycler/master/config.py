# -*- test-case-name: tests.master.test_pool -*-
"""What a pool is told: its configuration, and how it refuses a request."""

from __future__ import annotations

import attrs

from recycler.master.triggers import TriggerConfig

MAX_WORKERS = 1024
"""The most workers a pool may be asked to run."""

MAX_STARTING = 8
"""Workers starting at once: a large C{spawn} or C{scale} proceeds in batches."""


class PoolError(Exception):
    """A request to the pool that cannot be carried out; the message says why."""


@attrs.frozen
class PoolConfig:
    """
    How a pool runs its workers. The defaults are neutral (no TTL); the
    command line has the seed example's.

    @ivar target: How many workers to keep.
    @ivar grace: Seconds a draining worker gets before SIGKILL.
    @ivar overlap: Start a replacement, and drain the old worker only once the
        replacement is ready, so planned recycling never lowers capacity.
    @ivar maxDraining: How many planned recycles may wait for their replacement at once;
        more wait in a queue.
    @ivar triggers: When each worker is recycled or killed.
    """

    target: int = 1
    grace: float = 30.0
    overlap: bool = True
    maxDraining: int = 1
    triggers: TriggerConfig = attrs.field(factory=TriggerConfig)
