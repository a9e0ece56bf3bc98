# -*- test-case-name: tests.master.test_memory -*-
"""Memory use of worker processes, as the kernel reports it (through psutil)."""

from __future__ import annotations

import psutil


def residentBytes(pid: int | None) -> int | None:
    """The resident set size of C{pid} in bytes, or L{None} if it cannot be read."""
    if pid is None:
        return None
    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.Error, OSError):
        return None
