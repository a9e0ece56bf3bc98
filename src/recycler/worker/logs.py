# -*- test-case-name: tests.worker.test_logs -*-
"""The worker's log: plain lines on stdout, for the master to relay.

The worker logs to stdout, which the master relays line by line into its own
log, tagged with the worker's id and timestamped.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsText,
    globalLogBeginner,
)


def observer(out: TextIO) -> ILogObserver:
    """
    Log to C{out} without timestamps (the master adds its own). Twisted's own
    chatter ("Starting factory", "Port closed"), also through the legacy log,
    is kept out unless it is a warning or worse.
    """

    def format(event: dict[str, Any]) -> str:
        return eventAsText(event, includeTimestamp=False, includeSystem=False) + "\n"

    levels = LogLevelFilterPredicate(LogLevel.info)
    levels.setLogLevelForNamespace("log_legacy", LogLevel.warn)
    levels.setLogLevelForNamespace("twisted", LogLevel.warn)
    return FilteringLogObserver(FileLogObserver(out, format), [levels])


def beginLogging() -> None:
    """Send the process's log to stdout through L{observer}."""
    globalLogBeginner.beginLoggingTo([observer(sys.stdout)], redirectStandardIO=False)
