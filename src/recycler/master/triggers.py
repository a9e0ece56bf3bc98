# -*- test-case-name: tests.master.test_triggers -*-
"""Why a worker stops: every recycle trigger and deadline, one small object each.

The pool builds a fresh set of triggers for each worker it spawns
(L{triggersFor}); the worker's L{recycler.master.handle.WorkerHandle} arms them
and feeds them the worker's life (spawned, ready, every message heard) and
disarms them all when the worker stops. A trigger that fires calls back with
its L{StopReason}: a planned reason (TTL, requests, memory) asks the pool to
recycle the worker, an unplanned one (hung, boot timeout) kills it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall

from recycler import wire
from recycler.master.events import StopReason
from recycler.master.policy import Random, TTLRange

Fire = Callable[[StopReason], None]
"""What a trigger calls when it fires."""


class Trigger:
    """
    One reason to stop one worker, watched from its spawn until it stops.
    Subclasses override the hooks they need.

    @cvar reason: What firing means.
    """

    reason: StopReason

    def __init__(self) -> None:
        self._fire: Fire | None = None

    def arm(self, fire: Fire) -> None:
        """The worker was spawned; call C{fire} once this trigger fires."""
        self._fire = fire

    def ready(self, pid: int | None) -> None:
        """The worker reported ready."""

    def heard(self, message: Mapping[str, Any]) -> None:
        """The worker sent a message on its event pipe."""

    def disarm(self) -> None:
        """The worker is stopping: never fire."""
        self._fire = None

    def fire(self) -> None:
        """Fire (once): tell the worker's handle."""
        fire, self._fire = self._fire, None
        if fire is not None:
            self.disarm()
            fire(self.reason)


class _Timer(Trigger):
    """A trigger that fires C{seconds} after it is started."""

    def __init__(self, clock: IReactorTime, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._clock = clock
        self._call: IDelayedCall | None = None

    def start(self, early: float = 0.0) -> None:
        """Count down from now, firing C{early} seconds before C{seconds} are up."""
        if self._fire is not None:
            self._call = self._clock.callLater(max(0.0, self.seconds - early), self._expired)

    def left(self, now: float) -> float | None:
        """Seconds until it fires, or L{None} if it is not counting down."""
        if self._call is None or not self._call.active():
            return None
        return max(0.0, self._call.getTime() - now)

    def disarm(self) -> None:
        super().disarm()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _expired(self) -> None:
        self._call = None
        self.fire()


class _SilenceDeadline(_Timer):
    """
    A deadline on what the master hears from a worker. It fires only if the
    worker was silent while the master listened: once the time is up it waits
    one more turn of the reactor, which reads the pipes first. A master that
    was stopped (SIGSTOP, a paused VM) or blocked runs its overdue timers
    before it reads what its workers sent meanwhile.
    """

    def _expired(self) -> None:
        self._call = self._clock.callLater(0, super()._expired)


class BootDeadline(_SilenceDeadline):
    """Kill a worker that is not ready C{seconds} after it was spawned."""

    reason = StopReason.BOOT_TIMEOUT

    def arm(self, fire: Fire) -> None:
        super().arm(fire)
        self.start()

    def ready(self, pid: int | None) -> None:
        self.disarm()


class Heartbeat(_SilenceDeadline):
    """Kill a ready worker that sent nothing (no status) for C{seconds}: it is hung."""

    reason = StopReason.HUNG

    def ready(self, pid: int | None) -> None:
        self.start()

    def heard(self, message: Mapping[str, Any]) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
            self.start()


class TimeToLive(_Timer):
    """
    Recycle a worker so that it serves C{seconds}: its replacement is started
    C{lead()} seconds early (how long a worker takes to become ready), so the
    worker drains about when its time is up rather than a start-up later.
    """

    reason = StopReason.TTL

    def __init__(
        self, clock: IReactorTime, seconds: float, lead: Callable[[], float] = lambda: 0.0
    ) -> None:
        super().__init__(clock, seconds)
        self._lead = lead

    def ready(self, pid: int | None) -> None:
        self.start(early=self._lead())


class StartupEstimate:
    """
    How long workers take from spawn to ready (a moving average of the last
    few): how early a replacement starts, with overlap; without, 0.
    """

    def __init__(self, enabled: bool = True, weight: float = 0.2) -> None:
        self.seconds = 0.0
        self._enabled = enabled
        self._weight = weight

    def observe(self, seconds: float | None) -> None:
        """One worker became ready after C{seconds}."""
        if seconds is not None:
            self.seconds += self._weight * (seconds - self.seconds)

    def __call__(self) -> float:
        return self.seconds if self._enabled else 0.0


class RequestLimit(Trigger):
    """Recycle a worker once it reports C{limit} requests served."""

    reason = StopReason.MAX_REQUESTS

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def heard(self, message: Mapping[str, Any]) -> None:
        if message.get("kind") != wire.Event.STATUS:
            return
        served = message.get("served")
        if isinstance(served, int) and served >= self.limit:
            self.fire()


class MemoryLimit(Trigger):
    """
    Recycle a ready worker whose resident memory is over C{limit} bytes on two
    samples in a row, taken every C{interval} seconds (one sample may catch a
    short peak).
    """

    reason = StopReason.MAX_RSS

    def __init__(
        self,
        clock: IReactorTime,
        limit: int,
        interval: float,
        memoryOf: Callable[[int | None], int | None],
    ) -> None:
        super().__init__()
        self.limit = limit
        self._memoryOf = memoryOf
        self._interval = interval
        self._pid: int | None = None
        self._strikes = 0
        self._sampling = LoopingCall(self._sample)
        self._sampling.clock = clock

    def ready(self, pid: int | None) -> None:
        self._pid = pid
        self._sampling.start(self._interval, now=False)

    def disarm(self) -> None:
        super().disarm()
        if self._sampling.running:
            self._sampling.stop()

    def _sample(self) -> None:
        rss = self._memoryOf(self._pid)
        self._strikes = self._strikes + 1 if rss is not None and rss > self.limit else 0
        if self._strikes >= 2:
            self.fire()


@attrs.frozen
class TriggerConfig:
    """
    The limits every worker of a pool lives under; L{None} turns a trigger off.

    @ivar ttl: Range each worker's lifetime (once ready) is drawn from.
    @ivar maxRequests: Requests after which a worker is recycled...
    @ivar maxRequestsJitter: ...plus 0..J, drawn per worker.
    @ivar maxRss: Resident bytes over which a worker is recycled.
    @ivar rssInterval: Seconds between memory samples.
    @ivar heartbeatTimeout: Seconds a ready worker may send nothing before it is killed as hung.
    @ivar bootTimeout: Seconds a worker may take to become ready.
    """

    ttl: TTLRange | None = None
    maxRequests: int | None = None
    maxRequestsJitter: int = 0
    maxRss: int | None = None
    rssInterval: float = 5.0
    heartbeatTimeout: float | None = 30.0
    bootTimeout: float | None = 60.0


def triggersFor(
    config: TriggerConfig,
    clock: IReactorTime,
    random: Random,
    memoryOf: Callable[[int | None], int | None],
    ttlLead: Callable[[], float] = lambda: 0.0,
) -> list[Trigger]:
    """
    The triggers of one new worker, with its own TTL and request limit drawn;
    its replacement starts C{ttlLead()} seconds before its TTL is up.
    """
    triggers: list[Trigger] = []
    if config.bootTimeout is not None:
        triggers.append(BootDeadline(clock, config.bootTimeout))
    if config.heartbeatTimeout is not None:
        triggers.append(Heartbeat(clock, config.heartbeatTimeout))
    if config.ttl is not None:
        triggers.append(TimeToLive(clock, config.ttl.draw(random), ttlLead))
    if config.maxRequests is not None:
        jitter = int(random() * (config.maxRequestsJitter + 1))
        triggers.append(RequestLimit(config.maxRequests + jitter))
    if config.maxRss is not None:
        triggers.append(MemoryLimit(clock, config.maxRss, config.rssInterval, memoryOf))
    return triggers
