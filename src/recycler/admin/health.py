# -*- test-case-name: tests.admin.test_commands -*-
"""What stands between the pool and its target: a crash backoff, the fork server's state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from recycler.master.stats import PoolStats


def backoffFields(stats: PoolStats) -> dict[str, Any] | None:
    """C{{"streak": N, "nextAttemptIn": seconds or None}} while the pool backs off, else L{None}."""
    if not stats.crashStreak:
        return None
    nextIn = stats.nextRespawnIn
    return {
        "streak": stats.crashStreak,
        "nextAttemptIn": None if nextIn is None else round(nextIn, 3),
    }


def forkServerFields(stats: PoolStats) -> dict[str, Any] | None:
    """The fork server's C{pid}, C{ready}, C{restarts} and C{failure}; L{None} with exec."""
    status = stats.forkServer
    return None if status is None else attrs.asdict(status)


def forkServerText(fields: Mapping[str, Any]) -> str:
    """C{fork server: pid 123, ready, 2 restarts} (or down, and why)."""
    if fields["ready"]:
        state = f"pid {fields['pid']}, ready"
    else:
        state = f"down ({_oneLine(fields['failure'] or 'starting')})"
    return f"fork server: {state}, {fields['restarts']} restarts"


def backoffText(backoff: Mapping[str, Any]) -> str:
    """C{backoff: 3 failed starts in a row, next attempt in 4.2s}."""
    nextIn = backoff.get("nextAttemptIn")
    when = "pending" if nextIn is None else f"in {nextIn:.1f}s"
    return f"backoff: {backoff['streak']} failed starts in a row, next attempt {when}"


def _oneLine(text: str, limit: int = 80) -> str:
    """C{text} on one line (a failure may hold a traceback's newlines), cut at C{limit}."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
