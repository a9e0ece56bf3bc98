"""Draw every worker's life from a recycler master's structured log: one bar per worker.

    python bench/plot_lifetimes.py LOGFILE OUT.png [--title TITLE]

LOGFILE is what C{python -m twisted --log-format=json --log-file=LOGFILE recycler ...}
writes: records separated by C{\\x1e}, one JSON object each. The lifecycle events
(C{born}, C{ready}, C{draining}, C{exited}; C{killed} is marked) carry C{workerId} and
C{log_time}. Each bar runs from born to exited: starting (born to ready), serving
(ready to draining) and draining (draining to exited) in three shades. The x axis is
seconds since the first lifecycle event, the y axis the worker id. A worker still alive
at the end of the log is drawn up to the last event, with an open end.

Needs matplotlib (C{pip install -e '.[bench]'}); it draws with the Agg backend.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Event = dict[str, Any]

LIFECYCLE = ("born", "ready", "draining", "exited", "killed")
PHASES = (
    # (label, start field, colour, hatch)
    ("starting (born → ready)", "born", "#f2b134", ""),
    ("serving (ready → draining)", "ready", "#3a78b5", ""),
    ("draining (draining → exited)", "draining", "#d9534f", "///"),
)


@dataclass
class Lifetime:
    """The times (seconds since the first event) of one worker's lifecycle events."""

    workerId: int
    born: float | None = None
    ready: float | None = None
    draining: float | None = None
    exited: float | None = None
    killed: float | None = None

    def phases(self, end: float) -> list[tuple[int, float, float]]:
        """
        The worker's phases as (index into L{PHASES}, start, stop); a phase
        ends where the next event happened, or at C{end} if none did.
        """
        marks = [self.born, self.ready, self.draining]
        stop = self.exited if self.exited is not None else end
        result = []
        for index, start in enumerate(marks):
            if start is None:
                continue
            following = [t for t in marks[index + 1 :] if t is not None]
            result.append((index, start, following[0] if following else stop))
        return result


def readLog(path: Path) -> list[Event]:
    """Parse a C{\\x1e}-separated JSON log; records that are not JSON objects are skipped."""
    events = []
    for record in path.read_bytes().split(b"\x1e"):
        record = record.strip()
        if not record:
            continue
        try:
            event = json.loads(record)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def lifetimes(events: Iterable[Event]) -> tuple[list[Lifetime], float]:
    """
    Collect each worker's lifecycle events (the first of each kind counts).

    @return: the lifetimes, ordered by worker id, and the time of the last
        lifecycle event (seconds since the first one).
    """
    lifecycle = [
        e for e in events if e.get("event") in LIFECYCLE and "workerId" in e and "log_time" in e
    ]
    if not lifecycle:
        return [], 0.0
    origin = min(e["log_time"] for e in lifecycle)
    workers: dict[int, Lifetime] = {}
    for event in sorted(lifecycle, key=lambda e: e["log_time"]):
        life = workers.setdefault(event["workerId"], Lifetime(event["workerId"]))
        if getattr(life, event["event"]) is None:
            setattr(life, event["event"], event["log_time"] - origin)
    last = max(e["log_time"] for e in lifecycle) - origin
    return [workers[key] for key in sorted(workers)], last


def plotLifetimes(events: Iterable[Event], out: Path, title: str = "Worker lifetimes") -> None:
    """Draw one bar per worker from its lifecycle C{events} and save the figure to C{out}."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    lives, end = lifetimes(events)
    if not lives:
        raise ValueError("no worker lifecycle events (born, ready, draining, exited) found")
    figure, axes = pyplot.subplots(figsize=(10, max(3.0, 1.5 + 0.22 * len(lives))))
    for life in lives:
        for index, start, stop in life.phases(end):
            _, _, colour, hatch = PHASES[index]
            axes.barh(
                life.workerId,
                max(stop - start, 0.0),
                left=start,
                height=0.7,
                color=colour,
                hatch=hatch,
                edgecolor="white" if hatch else colour,
                linewidth=0,
            )
        if life.exited is None:
            axes.plot(end, life.workerId, marker=">", color="black", markersize=4)
        if life.killed is not None:
            axes.plot(life.killed, life.workerId, marker="x", color="black", markersize=6)
    handles = [
        Patch(facecolor=c, hatch=h, edgecolor="white", label=label) for label, _, c, h in PHASES
    ]
    if any(life.exited is None for life in lives):
        handles.append(
            pyplot.Line2D([], [], marker=">", color="black", linestyle="", label="still running")
        )
    if any(life.killed is not None for life in lives):
        handles.append(
            pyplot.Line2D([], [], marker="x", color="black", linestyle="", label="SIGKILL")
        )
    axes.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.9)
    axes.set_xlabel("seconds since the first worker event")
    axes.set_ylabel("worker id")
    axes.set_ylim(
        max(life.workerId for life in lives) + 1, min(life.workerId for life in lives) - 1
    )
    axes.set_xlim(0, end * 1.02 or 1)
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    pyplot.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, read the log and write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="the master's JSON log (--log-format=json)")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--title", default="Worker lifetimes", help="the figure's title")
    args = parser.parse_args(argv)
    plotLifetimes(readLog(args.log), args.out, args.title)


if __name__ == "__main__":
    main()
