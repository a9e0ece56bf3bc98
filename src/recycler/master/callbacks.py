# -*- test-case-name: tests.master.test_handle -*-
"""What a worker's handle tells its pool: L{recycler.master.pool.WorkerPool} provides it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from recycler.master.events import StopReason
    from recycler.master.handle import WorkerHandle


class PoolCallbacks(Protocol):
    """What a L{WorkerHandle} tells its pool."""

    def workerReady(self, worker: WorkerHandle) -> None: ...

    def workerWantsRecycling(self, worker: WorkerHandle, reason: StopReason) -> None: ...

    def workerEnded(self, worker: WorkerHandle) -> None: ...

    def workerExited(self, worker: WorkerHandle) -> None: ...
