# -*- test-case-name: tests.master.test_notify -*-
"""systemd's notifications (C{sd_notify}): ready, status, reloading, stopping, watchdog.

Under C{Type=notify} (or C{notify-reload}) systemd sets C{NOTIFY_SOCKET}; the
master then sends it, one datagram per message:

 - C{READY=1} once as many workers are ready as the pool wants (C{--workers},
   or fewer if it was scaled down before they all were);
 - C{STATUS=4 ready, 0 starting, 0 draining; 12 recycled} as the counts change,
   at most once a second;
 - C{RELOADING=1} (and C{MONOTONIC_USEC}, which C{Type=notify-reload} needs)
   when a reload starts, C{READY=1} once every worker it replaces has stopped
   serving, or the reload was aborted;
 - C{STOPPING=1} when the master starts stopping;
 - C{WATCHDOG=1} every C{WATCHDOG_USEC / 2}, if systemd set it for this process.

Workers never get these variables (L{NOTIFY_VARIABLES}), so none can notify.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger, LogPublisher
from twisted.python.failure import Failure

from recycler.master.events import RECYCLES, WorkerEvent
from recycler.master.handle import WorkerHandle
from recycler.master.stats import PoolStats

NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""What systemd sets for the master alone: workers and the fork server never get them."""

STATUS_INTERVAL = 1.0
"""Seconds between two C{STATUS=} updates, at least."""

_LIFECYCLE = frozenset(WorkerEvent)
_STOPPED_SERVING = frozenset({WorkerEvent.DRAINING, WorkerEvent.KILLED, WorkerEvent.EXITED})

log = Logger()


class NotifiedPool(Protocol):
    """What the notifier reads of the pool (a L{recycler.master.pool.WorkerPool})."""

    @property
    def events(self) -> LogPublisher:
        """The pool's event channel."""

    @property
    def workers(self) -> Mapping[int, WorkerHandle]:
        """Live workers by id."""

    def stats(self) -> PoolStats:
        """The pool's counts now."""


class SystemdNotifier:
    """
    Tells systemd how the master is doing, from the pool's events and the
    service's hooks (L{start}, L{stopping}) and around reloads (L{announcingReload}).
    """

    def __init__(
        self,
        clock: IReactorTime,
        send: Callable[[str], object],
        *,
        watchdog: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        @param send: Sends one message to systemd; may raise L{OSError}.
        @param watchdog: Seconds between C{WATCHDOG=1} pings, or L{None}.
        @param monotonic: C{CLOCK_MONOTONIC} in seconds, for C{MONOTONIC_USEC}.
        """
        self._clock = clock
        self._send = send
        self._monotonic = monotonic
        self._watchdog = watchdog
        self._pool: NotifiedPool | None = None
        self._ready = False
        self._stopping = False
        self._reloading = False
        self._preparing = 0
        self._replacing: set[int] = set()
        self._status: str | None = None
        self._statusAt = float("-inf")
        self._flush: IDelayedCall | None = None
        self._failing = False

    def start(self, pool: NotifiedPool) -> None:
        """Follow C{pool}'s events from now on; start the watchdog pings."""
        self._pool = pool
        pool.events.addObserver(self._observe)
        if self._watchdog is not None:
            pings = LoopingCall(self._notify, "WATCHDOG=1")
            pings.clock = self._clock
            pings.start(self._watchdog, now=True)

    def stopping(self) -> None:
        """The master is stopping: C{STOPPING=1}; no reload is announced as done from now on."""
        self._stopping = True
        self._reloading = False
        self._notify("STOPPING=1")

    def announcingReload(
        self, prepare: Callable[[], Deferred[None]] | None
    ) -> Callable[[], Deferred[None]]:
        """
        Wrap the pool's C{prepareReload} (which every reload calls first, be it
        SIGHUP or the admin's C{reload}): C{RELOADING=1} now, C{READY=1} once
        the workers serving when it is prepared have all stopped serving, or at
        once if it fails (the reload is aborted).
        """

        def reload() -> Deferred[None]:
            self._reloadStarted()
            prepared = succeed(None) if prepare is None else prepare()
            return prepared.addCallbacks(self._reloadPrepared, self._reloadAborted)

        return reload

    # Internals

    def _reloadStarted(self) -> None:
        self._preparing += 1
        if self._ready and not self._stopping:
            self._reloading = True
            usec = int(self._monotonic() * 1_000_000)
            self._notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def _reloadPrepared(self, result: None) -> None:
        self._preparing -= 1
        self._replacing.update(
            workerId
            for workerId, worker in self._startedPool().workers.items()
            if worker.state.counted or worker.state.serving
        )
        self._reloadDone()
        return result

    def _reloadAborted(self, failure: Failure) -> Failure:
        self._preparing -= 1
        self._reloadDone()
        return failure

    def _reloadDone(self) -> None:
        if self._reloading and not self._preparing and not self._replacing:
            self._reloading = False
            self._notify("READY=1", f"STATUS={self._describe()}")

    def _observe(self, event: dict[str, object]) -> None:
        if not self._ready and not self._stopping:  # any pool event: a worker ready, a scale
            stats = self._startedPool().stats()
            if stats.ready >= stats.target:
                self._ready = True
                self._notify("READY=1", f"STATUS={self._describe(stats)}")
        kind = event.get("event")
        if not isinstance(kind, str) or kind not in _LIFECYCLE:
            return
        workerId = event.get("workerId")
        if kind in _STOPPED_SERVING and isinstance(workerId, int):
            self._replacing.discard(workerId)
            self._reloadDone()
        if self._flush is None:
            wait = max(0.0, self._statusAt + STATUS_INTERVAL - self._clock.seconds())
            self._flush = self._clock.callLater(wait, self._updateStatus)

    def _updateStatus(self) -> None:
        self._flush = None
        status = self._describe()
        if status != self._status:
            self._notify(f"STATUS={status}")

    def _startedPool(self) -> NotifiedPool:
        """The pool: its events and reloads come only once L{start} was given it."""
        assert self._pool is not None, "the notifier was not started"
        return self._pool

    def _describe(self, stats: PoolStats | None = None) -> str:
        """The counts: C{4 ready, 0 starting, 1 draining; 12 recycled}."""
        stats = stats or self._startedPool().stats()
        recycled = sum(count for why, count in stats.recycles.items() if why in RECYCLES)
        status = (
            f"{stats.ready} ready, {stats.starting} starting, {stats.draining} draining; "
            f"{recycled} recycled"
        )
        if stats.crashStreak:
            status += f"; {stats.crashStreak} failed to start in a row"
        return status

    def _notify(self, *assignments: str) -> None:
        for assignment in assignments:
            if assignment.startswith("STATUS="):
                self._status = assignment.removeprefix("STATUS=")
                self._statusAt = self._clock.seconds()
        try:
            self._send("\n".join(assignments))
        except OSError as e:
            if not self._failing:
                log.warn("cannot notify systemd: {error}", error=e)
            self._failing = True
        else:
            self._failing = False


def datagramSender(address: str) -> Callable[[str], object]:
    """
    Send each message as one datagram to C{address}, C{NOTIFY_SOCKET}: a
    path, or an abstract address if it starts with C{@}.
    """
    target = "\0" + address[1:] if address.startswith("@") else address
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)  # a full queue loses a message; it never blocks the master
    return lambda message: sock.sendto(message.encode(), target)


def systemdNotifier(
    clock: IReactorTime, environ: Mapping[str, str], pid: int
) -> SystemdNotifier | None:
    """
    A notifier for the master (process C{pid}) if systemd asked for
    notifications in C{environ} (C{NOTIFY_SOCKET}), else L{None}.
    """
    address = environ.get("NOTIFY_SOCKET", "")
    if not address:
        return None
    if not address.startswith(("/", "@")):
        log.warn(
            "NOTIFY_SOCKET={address!r} is not a unix socket; not notifying systemd",
            address=address,
        )
        return None
    return SystemdNotifier(clock, datagramSender(address), watchdog=watchdogInterval(environ, pid))


def watchdogInterval(environ: Mapping[str, str], pid: int) -> float | None:
    """
    Seconds between C{WATCHDOG=1} pings: half of C{WATCHDOG_USEC}, if it is
    set for process C{pid} (C{WATCHDOG_PID}, when set, must name it); else L{None}.
    """
    usec, forPid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if usec is None or (forPid is not None and forPid != str(pid)):
        return None
    if not usec.isdigit() or int(usec) == 0:
        log.warn("WATCHDOG_USEC={usec!r} is not a number of microseconds; ignored", usec=usec)
        return None
    return int(usec) / 2_000_000
