# -*- test-case-name: tests.ctl.test_top -*-
"""C{recyclerctl top}: the pool and its workers, refreshed every second, as uwsgitop does.

Each frame comes from C{list --json} and C{stats --json}; requests a second
are the growth of C{served} between two samples, per worker and for the pool
(whose total includes the workers that exited in between). L{frame} renders
one sample; L{recycler.ctl.screen} draws the frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recycler.ctl.client import Reply
from recycler.ctl.session import Refused, Session

MIB = 1024 * 1024
PHASES = ("starting", "ready", "draining")
HEADER = ("ID", "PID", "STATE", "AGE", "TTL", "REQ/S", "INFLIGHT", "RSS(MiB)", "SERVED", "REASON")
LEFT_ALIGNED = (2, 9)
"""The columns of text (STATE and REASON); numbers are right-aligned."""


@dataclass(frozen=True)
class Sample:
    """
    What the pool looked like at one moment.

    @ivar at: When it was taken, in seconds of a monotonic clock.
    @ivar listing: The reply to C{list --json}.
    @ivar served: The pool's total of requests served (C{stats}), exited workers included.
    """

    at: float
    listing: Mapping[str, Any]
    served: int

    def servedBy(self) -> dict[int, int]:
        """Requests served so far by each live worker, by id."""
        return {worker["id"]: worker["served"] for worker in self.listing["workers"]}


def takeSample(session: Session, clock: Callable[[], float]) -> Sample:
    """Ask for C{list} and C{stats}; L{Refused} if the server answers an error."""
    listing = _data(session.run(["list", "--json"]))
    stats = _data(session.run(["stats", "--json"]))
    return Sample(clock(), listing, stats["stats"]["served"])


def _data(reply: Reply) -> Mapping[str, Any]:
    if reply.error is not None:
        raise Refused(reply)
    return reply.data


def rates(current: Sample, previous: Sample | None) -> tuple[dict[int, float], float | None]:
    """Requests a second of each worker seen in both samples, and of the pool."""
    elapsed = 0.0 if previous is None else current.at - previous.at
    if previous is None or elapsed <= 0:
        return {}, None
    before = previous.servedBy()
    perWorker = {
        workerId: (served - before[workerId]) / elapsed
        for workerId, served in current.servedBy().items()
        if workerId in before and served >= before[workerId]
    }
    return perWorker, max(0, current.served - previous.served) / elapsed


def frame(current: Sample, previous: Sample | None, heading: str) -> list[str]:
    """
    The lines of one frame: C{heading}, the pool's counts, the fork server and
    the backoff if any, then one row per worker.
    """
    listing = current.listing
    workers = listing["workers"]
    perWorker, poolRate = rates(current, previous)
    counts = {phase: sum(w["state"] == phase for w in workers) for phase in PHASES}
    summary = ", ".join(f"{counts[phase]} {phase}" for phase in PHASES)
    lines = [
        heading,
        f"target {listing['target']}, {len(workers)} live ({summary}); "
        f"{_rate(poolRate)} req/s, {current.served} served",
    ]
    forkServer = listing.get("forkServer")
    if forkServer:
        state = f"pid {forkServer['pid']}, ready" if forkServer["ready"] else "down"
        lines.append(f"fork server: {state}, {forkServer['restarts']} restarts")
    backoff = listing.get("backoff")
    if backoff:
        lines.append(f"backoff: {backoff['streak']} failed starts in a row")
    rows = [
        (
            str(w["id"]),
            _dash(w["pid"]),
            w["state"],
            duration(w["age"]),
            _dash(w["ttlLeft"], duration),
            _rate(perWorker.get(w["id"])),
            str(w["inFlight"]),
            _dash(w["rssBytes"], lambda size: f"{size / MIB:.1f}"),
            str(w["served"]),
            _dash(w["reason"]),
        )
        for w in workers
    ]
    return [*lines, "", *table(HEADER, rows, LEFT_ALIGNED)]


def duration(seconds: float) -> str:
    """C{12.3} under 100 s, C{25m03s} under an hour, C{1h05m} beyond."""
    if seconds < 100:
        return f"{seconds:.1f}"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _dash(value: Any, render: Callable[[Any], str] = str) -> str:
    return "-" if value is None else render(value)


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], leftAligned: Sequence[int]
) -> list[str]:
    """Columns two spaces apart, as wide as their widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i in leftAligned else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(row) for row in rows)]
