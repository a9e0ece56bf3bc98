# -*- test-case-name: tests.admin.test_render -*-
"""How the admin port says things: aligned tables, event lines, JSON lines.

Pure functions from the pool's data (L{PoolStats}, worker handles, log events)
to fields and lines; L{recycler.admin.commands} decides what to say. No line
contains a newline, so each is safe to send as one line of the protocol.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

from recycler.admin.health import backoffFields, backoffText, forkServerText
from recycler.admin.interfaces import AdminWorker
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.lifecycle import PHASES
from recycler.master.stats import PoolStats

SCHEMA_VERSION = 1
"""The version of the JSON replies; bumped when a field changes meaning or goes away."""

MIB = 1024 * 1024

_LEGACY_KEYS = frozenset({"message", "system", "format", "isError", "failure", "time"})
"""Keys a legacy log observer may have added to a log event (it edits events in place)."""


# JSON


def jsonLine(obj: Mapping[str, Any]) -> str:
    """One JSON object as an ASCII line; NaN is C{null}, an enum its value, the unknown C{str()}."""
    return json.dumps(_jsonSafe(obj), separators=(",", ":"), default=str)


def _jsonSafe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, enum.Enum):
        return _jsonSafe(value.value)
    if isinstance(value, Mapping):
        return {str(key): _jsonSafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonSafe(item) for item in value]
    return value


def replyLines(lines: Sequence[str], last: str, data: Mapping[str, Any], asJSON: bool) -> list[str]:
    """A successful reply: C{lines} then C{last}, or in JSON one object with C{data}."""
    if asJSON:
        return [jsonLine({"ok": True, "version": SCHEMA_VERSION, **data})]
    return [*lines, last]


def errorLine(message: str, asJSON: bool) -> str:
    """A failed reply: C{error: <message>} on one line, or its JSON object."""
    message = " ".join(message.split()) or "failed"
    if asJSON:
        return jsonLine({"ok": False, "version": SCHEMA_VERSION, "error": message})
    return f"error: {message}"


# Plain text


def formatNumber(value: float, decimals: int = 3) -> str:
    """C{value} with at most C{decimals} decimals and no trailing zeros (C{2.1}, C{30})."""
    if not isinstance(value, float) or not math.isfinite(value):
        return str(value)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def printable(text: str, limit: int = 60) -> str:
    """C{text} cut to C{limit} characters, control characters replaced by C{?}."""
    cut = text[:limit] + ("..." if len(text) > limit else "")
    return "".join(c if c.isprintable() else "?" for c in cut)


def formatValue(value: Any) -> str:
    """A field value for a C{key=value} pair: quoted (JSON style) if it has spaces or quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return formatNumber(value)
    if isinstance(value, enum.Enum):
        value = value.value
    text = str(value)
    plain = text and all(c.isprintable() and not c.isspace() and c not in "\"'=" for c in text)
    return text if plain else json.dumps(text)


def formatTime(seconds: float) -> str:
    """A POSIX time as ISO 8601 UTC to the millisecond: C{2023-11-14T22:13:20.123Z}."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatTable(
    header: Sequence[str], rows: Sequence[Sequence[str]], leftAligned: Container[int] = ()
) -> list[str]:
    """C{rows} under C{header} in columns two spaces apart, right-aligned but C{leftAligned}."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [
            cell.ljust(width) if i in leftAligned else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


# watch


def watchFields(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """
    What C{watch} relays of one log event of the pool: L{None} unless it is a
    worker lifecycle event (its C{event} is a L{WorkerEvent}); else its name, its
    time (C{time}, from C{log_time}) and its own fields, without the logging
    system's (C{log_*}, and those a legacy observer may have added).
    """
    try:
        kind = WorkerEvent(event.get("event"))
    except ValueError:
        return None
    fields: dict[str, Any] = {"event": kind}
    if event.get("log_time") is not None:
        fields["time"] = round(event["log_time"], 3)
    for key, value in event.items():
        if key not in fields and not key.startswith("log_") and key not in _LEGACY_KEYS:
            fields[key] = value
    return fields


def eventLine(fields: Mapping[str, Any], asJSON: bool) -> str:
    """A C{watch} event: L{eventText}, or its JSON object (C{version} and no C{ok} key)."""
    return jsonLine({"version": SCHEMA_VERSION, **fields}) if asJSON else eventText(fields)


_KEY_NAMES = {"workerId": "worker"}
"""Event fields renamed in text event lines."""

_TEXT_VALUES: Mapping[str, Callable[[Any], str]] = {"time": formatTime}
"""Event fields shown in text other than by L{formatValue}."""


def eventText(event: Mapping[str, Any]) -> str:
    """
    An event as one line: its name, then C{key=value} pairs, e.g.
    C{born time=2023-11-14T22:13:20.123Z worker=3 pid=1234}. Fields whose value
    is L{None} are left out.
    """
    parts = [formatValue(event.get("event", "event"))]
    for key, value in event.items():
        if key == "event" or value is None:
            continue
        text = _TEXT_VALUES.get(key, formatValue)(value)
        parts.append(f"{formatValue(_KEY_NAMES.get(key, key))}={text}")
    return " ".join(parts)


# list


def workerRow(
    worker: AdminWorker, now: float, rssBytes: int | None, reason: StopReason | None
) -> dict[str, Any]:
    """The C{list} fields of one worker, as JSON gives them (seconds, bytes)."""
    ttlLeft = worker.ttlLeft(now)
    return {
        "id": worker.workerId,
        "pid": worker.pid,
        "state": worker.state.phase,
        "age": round(now - worker.spawnedAt, 3),
        "ttlLeft": None if ttlLeft is None else round(ttlLeft, 3),
        "served": worker.served,
        "inFlight": worker.inFlight,
        "rssBytes": rssBytes,
        "reason": None if reason is None else str(reason),
        "spawn": worker.spawnMode,
        "startup": None if worker.startup is None else round(worker.startup, 4),
    }


LIST_HEADER = (
    "ID", "PID", "STATE", "AGE", "TTL", "SERVED", "INFLIGHT", "RSS(MiB)", "SPAWN", "READY(ms)",
    "REASON",
)  # fmt: skip


def _dash(value: Any, render: Callable[[Any], str] = str) -> str:
    return "-" if value is None else render(value)


def listLines(
    target: int,
    rows: Sequence[Mapping[str, Any]],
    backoff: Mapping[str, Any] | None,
    forkServer: Mapping[str, Any] | None = None,
) -> list[str]:
    """
    The text of C{list}: a summary line, the fork server and the backoff if
    any (as L{recycler.admin.health} makes them), the workers.

    @param rows: Worker rows as made by L{workerRow}.
    """
    counts = dict.fromkeys(PHASES, 0)
    for row in rows:
        if row["state"] in counts:
            counts[row["state"]] += 1
    summary = ", ".join(f"{counts[phase]} {phase}" for phase in PHASES)
    lines = [f"target {target}, {len(rows)} live ({summary})"]
    if forkServer is not None:
        lines.append(forkServerText(forkServer))
    if backoff is not None:
        lines.append(backoffText(backoff))
    table = [
        (
            str(row["id"]),
            _dash(row["pid"]),
            row["state"],
            f"{row['age']:.1f}",
            _dash(row["ttlLeft"], lambda s: f"{s:.1f}"),
            str(row["served"]),
            str(row["inFlight"]),
            _dash(row["rssBytes"], lambda b: f"{b / MIB:.1f}"),
            row["spawn"],
            _dash(row["startup"], lambda s: f"{s * 1000:.0f}"),
            _dash(row["reason"], printable),
        )
        for row in rows
    ]
    lines.extend(formatTable(LIST_HEADER, table, leftAligned=(2, 8, 10)))
    return lines


# stats


def phaseCounts(stats: PoolStats) -> dict[str, int]:
    """Live workers by phase, every phase present, in the order listings show them."""
    counts = {"starting": stats.starting, "ready": stats.ready, "draining": stats.draining}
    return {phase: counts[phase] for phase in PHASES}


def statsFields(stats: PoolStats) -> dict[str, Any]:
    """The C{stats} object of JSON replies."""
    return {
        "born": stats.born,
        "exited": stats.exited,
        "killed": stats.killed,
        "served": stats.served,
        "inFlight": stats.inFlight,
        "spawnFailures": stats.spawnFailures,
        "recycles": dict(stats.recycles),
        "uptime": stats.uptime,
        "target": stats.target,
        "states": phaseCounts(stats),
    }


def statsLines(stats: PoolStats) -> list[str]:
    """The text of C{stats}: one C{name  value} line per total."""
    backoff = backoffFields(stats)
    recycles = " ".join(f"{formatValue(r)}={n}" for r, n in sorted(stats.recycles.items()))
    pairs = [
        ("uptime", f"{formatNumber(stats.uptime, 1)}s"),
        ("target", str(stats.target)),
        ("workers", " ".join(f"{phase}={n}" for phase, n in phaseCounts(stats).items())),
        ("born", str(stats.born)),
        ("exited", str(stats.exited)),
        ("killed", str(stats.killed)),
        ("served", str(stats.served)),
        ("in-flight", str(stats.inFlight)),
        ("spawn-failures", str(stats.spawnFailures)),
        ("recycles", recycles or "-"),
        ("backoff", "-" if backoff is None else backoffText(backoff).partition(": ")[2]),
    ]
    return formatTable(("TOTAL", "VALUE"), pairs, leftAligned=(0, 1))[1:]
