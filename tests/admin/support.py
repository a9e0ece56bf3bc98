"""Test doubles for the admin port: a pool and worker handles that follow the master's
API (L{recycler.admin.interfaces}), and a client over an in-memory transport."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import ILogObserver, LogLevel, LogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.protocol import AdminFactory
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.lifecycle import WorkerState
from recycler.master.policy import TTLRange
from recycler.master.pool import PoolError
from recycler.master.stats import ForkServerStatus, PoolStats

MIB = 1024 * 1024
STARTED = 1000.0
EVENT_TIME = 1700000000.123
"""The C{log_time} of the events L{FakePool.emit} publishes: 2023-11-14T22:13:20.123Z."""


@attrs.define(eq=False)
class FakeWorker:
    """A worker handle: the fields the admin port reads."""

    workerId: int
    pid: int | None
    state: WorkerState = WorkerState.READY
    spawnedAt: float = STARTED
    readyAt: float | None = None
    served: int = 0
    inFlight: int = 0
    stopReason: StopReason | None = None
    expiresAt: float | None = None
    spawnMode: str = "fork"

    @property
    def startup(self) -> float | None:
        return None if self.readyAt is None else self.readyAt - self.spawnedAt

    def ttlLeft(self, now: float) -> float | None:
        return None if self.expiresAt is None else max(0.0, self.expiresAt - now)


class RecordingPublisher(LogPublisher):
    """A pool's event channel that also lists its observers, for the tests to check."""

    def __init__(self) -> None:
        super().__init__()
        self.observers: list[ILogObserver] = []

    def addObserver(self, observer: ILogObserver) -> None:
        super().addObserver(observer)
        self.observers.append(observer)

    def removeObserver(self, observer: ILogObserver) -> None:
        super().removeObserver(observer)
        if observer in self.observers:
            self.observers.remove(observer)


class FakePool:
    """
    The pool API the admin port drives, recording every request.

    @ivar queued: Reasons of queued recycles, by worker id (what L{pendingReason}
        gives for a worker without a C{stopReason}).
    @ivar failWith: Raised by every request instead of carrying it out.
    """

    def __init__(self) -> None:
        self._target = 2
        self._ttl: TTLRange | None = TTLRange(60, 120)
        self.workers: dict[int, FakeWorker] = {}
        self.queued: dict[int, StopReason] = {}
        self.events = RecordingPublisher()
        self.calls: list[tuple[Any, ...]] = []
        self.failWith: Exception | None = None
        self.crashStreak = 0
        self.nextRespawnIn: float | None = None
        self.forkServer: ForkServerStatus | None = None
        self.recycles: Mapping[str, int] = {"ttl": 4, "manual": 1}

    @property
    def target(self) -> int:
        return self._target

    @property
    def ttl(self) -> TTLRange | None:
        return self._ttl

    def _call(self, *call: Any) -> None:
        if self.failWith is not None:
            raise self.failWith
        self.calls.append(call)

    def _existing(self, workerId: int) -> None:
        if workerId not in self.workers:
            raise PoolError(f"worker {workerId} does not exist")

    def pendingReason(self, worker: FakeWorker) -> StopReason | None:
        return worker.stopReason or self.queued.get(worker.workerId)

    def setTTL(self, ttl: TTLRange | None) -> None:
        self._call("setTTL", ttl)
        self._ttl = ttl

    def spawn(self, count: int) -> None:
        self._call("spawn", count)
        self._target += count

    def scale(self, target: int) -> None:
        if target < 1:
            raise PoolError(f"the pool size must be between 1 and 1024, not {target}")
        self._call("scale", target)
        self._target = target

    def reload(self) -> None:
        self._call("reload")

    def recycle(self, workerId: int) -> None:
        self._existing(workerId)
        self._call("recycle", workerId)

    def kill(self, workerId: int, force: bool = False) -> None:
        self._existing(workerId)
        self._call("kill", workerId, force)

    def stats(self) -> PoolStats:
        return PoolStats(
            uptime=86.5,
            target=self._target,
            starting=0,
            ready=1,
            draining=1,
            born=7,
            exited=5,
            killed=1,
            served=1234,
            inFlight=3,
            spawnFailures=2,
            recycles=self.recycles,
            crashStreak=self.crashStreak,
            nextRespawnIn=self.nextRespawnIn,
            spawn="exec" if self.forkServer is None else "fork",
            forkServer=self.forkServer,
        )

    def emit(self, kind: WorkerEvent | str, **fields: Any) -> None:
        """Publish a log event as the pool does: C{event=kind}, the fields, the C{log_} keys."""
        self.events(
            {
                "event": kind,
                **fields,
                "log_time": EVENT_TIME,
                "log_level": LogLevel.info,
                "log_namespace": "recycler.master.pool",
                "log_format": f"worker {kind}",
                "log_source": None,
            }
        )


def examplePool() -> FakePool:
    """A pool with a starting, a draining (recycled for TTL) and a ready worker."""
    pool = FakePool()
    pool.workers = {
        4: FakeWorker(4, 1004, WorkerState.STARTING, spawnedAt=STARTED + 40),
        2: FakeWorker(
            2, 1002, WorkerState.DRAINING, served=1500, inFlight=2, stopReason=StopReason.TTL
        ),
        3: FakeWorker(3, 1003, served=12, expiresAt=STARTED + 90.25, readyAt=STARTED + 0.0125),
    }
    return pool


def rss(pid: int | None) -> int | None:
    """Resident bytes of the example workers (L{None} for those that cannot be read)."""
    return {1002: 48 * MIB, 1003: 50 * MIB + MIB // 2}.get(pid or 0)


def makeFactory(pool: FakePool, clock: Clock, **kwargs: Any) -> AdminFactory:
    return AdminFactory(pool, clock, memoryOf=rss, **kwargs)


class Client:
    """One admin connection over a StringTransport."""

    def __init__(self, factory: AdminFactory, host: str = "127.0.0.1", port: int = 40000) -> None:
        self.factory = factory
        address = IPv4Address("TCP", host, port)
        self.transport = StringTransport(peerAddress=address)
        self.protocol = factory.buildProtocol(address)
        self.protocol.makeConnection(self.transport)

    def send(self, line: bytes | str, end: bytes = b"\r\n") -> list[str]:
        """Send one line; return the lines written in answer."""
        self.transport.clear()
        data = line.encode() if isinstance(line, str) else line
        self.protocol.dataReceived(data + end)
        return self.output()

    def output(self) -> list[str]:
        return self.transport.value().decode().splitlines()

    def json(self, line: str) -> dict[str, Any]:
        """Send one line; return the single JSON object answered."""
        [reply] = self.send(line)
        return json.loads(reply)

    def closed(self) -> bool:
        return self.transport.disconnecting

    def disconnect(self) -> None:
        """Play the kernel: the connection is gone."""
        self.protocol.connectionLost(Failure(ConnectionDone()))


class AdminTestCase(SynchronousTestCase):
    """Gives each test L{examplePool}, a clock at C{STARTED + 50} and a connected client."""

    def setUp(self) -> None:
        self.pool = examplePool()
        self.clock = Clock()
        self.clock.advance(STARTED + 50)
        self.client = Client(makeFactory(self.pool, self.clock))
