"""How the admin port says things: aligned tables, event lines, Prometheus text, JSON.

Pure functions from plain data (the pool's stats, worker rows, event dicts) to
lines of text; L{recycler.admin} decides what to say and when. No returned line
ever contains a newline, so each is safe to send as one line of the protocol.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Container, Mapping, Sequence
from typing import Any

SCHEMA_VERSION = 1
"""The version of the JSON replies; bumped when a field changes meaning or goes away."""

STATES = ("starting", "ready", "draining")
"""The live worker states, in the order every listing shows them."""

MIB = 1024 * 1024

_KEY_NAMES = {"workerId": "worker"}
"""Event fields renamed in text event lines."""


# JSON


def jsonLine(obj: Mapping[str, Any]) -> str:
    """
    One JSON object as a single ASCII line.

    Non-finite floats become C{null} (JSON has no NaN), enums their value, and
    anything else JSON does not know its C{str()}.
    """
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


def formatTable(
    header: Sequence[str], rows: Sequence[Sequence[str]], leftAligned: Container[int] = ()
) -> list[str]:
    """
    Align C{rows} under C{header} in columns two spaces apart.

    @param leftAligned: Indexes of the columns aligned left; the others (numbers)
        are aligned right.
    """
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


def eventText(event: Mapping[str, Any]) -> str:
    """
    A pool event as one line: its name, then C{key=value} pairs, e.g.
    C{born worker=3 pid=1234 ttl=2.1}. Fields whose value is L{None} are left out.
    """
    parts = [formatValue(event.get("event", "event"))]
    for key, value in event.items():
        if key == "event" or value is None:
            continue
        parts.append(f"{formatValue(_KEY_NAMES.get(key, key))}={formatValue(value)}")
    return " ".join(parts)


# list


def workerRow(worker: Any, now: float, rssBytes: int | None) -> dict[str, Any]:
    """The C{list} fields of one worker, as JSON gives them (seconds, bytes)."""
    ttlLeft = worker.ttlLeft(now)
    return {
        "id": worker.workerId,
        "pid": worker.pid,
        "state": worker.state.value,
        "age": round(now - worker.spawnedAt, 3),
        "ttlLeft": None if ttlLeft is None else round(ttlLeft, 3),
        "served": worker.served,
        "inFlight": worker.inFlight,
        "rssBytes": rssBytes,
        "reason": getattr(worker, "recycleReason", None),
    }


LIST_HEADER = ("ID", "PID", "STATE", "AGE", "TTL", "SERVED", "INFLIGHT", "RSS(MiB)", "REASON")


def _dash(value: Any, render: Any = str) -> str:
    return "-" if value is None else render(value)


def listLines(
    target: int, rows: Sequence[Mapping[str, Any]], backoff: Mapping[str, Any] | None
) -> list[str]:
    """
    The text of C{list}: a summary line, the backoff if any, and the worker table.

    @param rows: Worker rows as made by L{workerRow}.
    @param backoff: C{{"streak": N, "nextAttemptIn": seconds or None}} or L{None}.
    """
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        if row["state"] in counts:
            counts[row["state"]] += 1
    summary = ", ".join(f"{counts[state]} {state}" for state in STATES)
    lines = [f"target {target}, {len(rows)} live ({summary})"]
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
            _dash(row["reason"], printable),
        )
        for row in rows
    ]
    lines.extend(formatTable(LIST_HEADER, table, leftAligned=(2, 8)))
    return lines


def backoffText(backoff: Mapping[str, Any]) -> str:
    """C{backoff: 3 failed starts in a row, next attempt in 4.2s}."""
    nextIn = backoff.get("nextAttemptIn")
    when = "pending" if nextIn is None else f"in {nextIn:.1f}s"
    return f"backoff: {backoff['streak']} failed starts in a row, next attempt {when}"


# stats


def statsLines(stats: Mapping[str, Any], backoff: Mapping[str, Any] | None) -> list[str]:
    """The text of C{stats}: one C{name  value} line per total."""
    states = stats.get("states", {})
    recycles = stats.get("recycles", {})
    pairs = [
        ("uptime", f"{formatNumber(stats['uptime'], 1)}s"),
        ("target", str(stats["target"])),
        ("workers", " ".join(f"{state}={states.get(state, 0)}" for state in STATES)),
        ("born", str(stats["born"])),
        ("exited", str(stats["exited"])),
        ("killed", str(stats["killed"])),
        ("served", str(stats["served"])),
        ("in-flight", str(stats["inFlight"])),
        ("spawn-failures", str(stats["spawnFailures"])),
        (
            "recycles",
            " ".join(f"{formatValue(r)}={n}" for r, n in sorted(recycles.items())) or "-",
        ),
        ("backoff", "-" if backoff is None else backoffText(backoff).partition(": ")[2]),
    ]
    return formatTable(("TOTAL", "VALUE"), pairs, leftAligned=(0, 1))[1:]


# metrics


def metricFamilies(stats: Mapping[str, Any], crashStreak: int) -> list[tuple[str, str, str, Any]]:
    """
    The exported metrics: C{(name, type, help, value)}, where value is a number
    or, for labelled families, a mapping of label value to number.
    """
    states = stats.get("states", {})
    return [
        ("recycler_workers_born_total", "counter", "Workers spawned.", stats["born"]),
        ("recycler_workers_exited_total", "counter", "Workers that exited.", stats["exited"]),
        (
            "recycler_workers_killed_total",
            "counter",
            "Workers ended with SIGKILL.",
            stats["killed"],
        ),
        (
            "recycler_requests_served_total",
            "counter",
            "Requests completed by all workers, exited ones included.",
            stats["served"],
        ),
        (
            "recycler_spawn_failures_total",
            "counter",
            "Workers that could not be started.",
            stats["spawnFailures"],
        ),
        (
            "recycler_recycles_total",
            "counter",
            "Workers that exited, by why they were recycled.",
            dict(sorted(stats.get("recycles", {}).items())),
        ),
        (
            "recycler_workers",
            "gauge",
            "Live workers by state.",
            {state: states.get(state, 0) for state in STATES},
        ),
        ("recycler_workers_target", "gauge", "Workers the pool keeps.", stats["target"]),
        (
            "recycler_requests_in_flight",
            "gauge",
            "Requests in progress in all workers.",
            stats["inFlight"],
        ),
        ("recycler_uptime_seconds", "gauge", "Seconds since the pool started.", stats["uptime"]),
        (
            "recycler_crash_streak",
            "gauge",
            "Consecutive workers that failed to start (0: not backing off).",
            crashStreak,
        ),
    ]


_LABELS = {"recycler_recycles_total": "reason", "recycler_workers": "state"}


def metricsLines(stats: Mapping[str, Any], crashStreak: int) -> list[str]:
    """The metrics in the Prometheus text exposition format, version 0.0.4."""
    lines = []
    for name, kind, help, value in metricFamilies(stats, crashStreak):
        lines.append(f"# HELP {name} {help}")
        lines.append(f"# TYPE {name} {kind}")
        if isinstance(value, Mapping):
            label = _LABELS[name]
            for labelValue, sample in value.items():
                escaped = _escapeLabel(str(labelValue))
                lines.append(f'{name}{{{label}="{escaped}"}} {_sampleValue(sample)}')
        else:
            lines.append(f"{name} {_sampleValue(value)}")
    return lines


def metricsObject(stats: Mapping[str, Any], crashStreak: int) -> dict[str, Any]:
    """The metrics as a JSON-ready mapping of name to number (or label to number)."""
    return {name: value for name, _, _, value in metricFamilies(stats, crashStreak)}


def _escapeLabel(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sampleValue(value: float) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
