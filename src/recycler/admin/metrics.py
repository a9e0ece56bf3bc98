# -*- test-case-name: tests.admin.test_metrics -*-
"""The pool's counters in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from recycler.admin.render import phaseCounts
from recycler.master.stats import PoolStats

Sample = float | Mapping[str, float]
"""A metric's value: a number, or label value to number for a labelled family."""

_LABELS = {"recycler_recycles_total": "reason", "recycler_workers": "state"}
"""The label of each labelled family."""


def metricFamilies(stats: PoolStats) -> list[tuple[str, str, str, Sample]]:
    """The exported metrics: C{(name, type, help, value)}."""
    return [
        ("recycler_workers_born_total", "counter", "Workers spawned.", stats.born),
        ("recycler_workers_exited_total", "counter", "Workers that exited.", stats.exited),
        ("recycler_workers_killed_total", "counter", "Workers ended with SIGKILL.", stats.killed),
        (
            "recycler_requests_served_total",
            "counter",
            "Requests completed by all workers, exited ones included.",
            stats.served,
        ),
        (
            "recycler_spawn_failures_total",
            "counter",
            "Workers that could not be started.",
            stats.spawnFailures,
        ),
        (
            "recycler_recycles_total",
            "counter",
            "Workers that exited, by why they were recycled.",
            dict(sorted(stats.recycles.items())),
        ),
        ("recycler_workers", "gauge", "Live workers by state.", phaseCounts(stats)),
        ("recycler_workers_target", "gauge", "Workers the pool keeps.", stats.target),
        (
            "recycler_requests_in_flight",
            "gauge",
            "Requests in progress in all workers.",
            stats.inFlight,
        ),
        ("recycler_uptime_seconds", "gauge", "Seconds since the pool started.", stats.uptime),
        (
            "recycler_crash_streak",
            "gauge",
            "Consecutive workers that failed to start (0: not backing off).",
            stats.crashStreak,
        ),
        *_forkServerFamilies(stats),
    ]


def _forkServerFamilies(stats: PoolStats) -> list[tuple[str, str, str, Sample]]:
    """With C{--spawn fork}: whether the fork server can fork, and how often it was replaced."""
    status = stats.forkServer
    if status is None:
        return []
    return [
        ("recycler_fork_server_up", "gauge", "1 while workers can be forked.", int(status.ready)),
        (
            "recycler_fork_server_restarts_total",
            "counter",
            "Fork servers started after the first (deaths and reloads).",
            status.restarts,
        ),
    ]


def metricsLines(stats: PoolStats) -> list[str]:
    """The metrics as lines of the text exposition format: C{# HELP}, C{# TYPE}, samples."""
    lines = []
    for name, kind, help, value in metricFamilies(stats):
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


def metricsFields(stats: PoolStats) -> dict[str, Any]:
    """The metrics as a JSON-ready mapping of name to number (or label value to number)."""
    return {name: value for name, _, _, value in metricFamilies(stats)}


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
