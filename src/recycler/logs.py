# -*- test-case-name: tests.test_logs -*-
"""Logs operators can ship: the master's log as JSON lines, and the C{--access-log} check.

C{twistd -n --logger=recycler.logs.jsonLinesObserver recycler ...} writes one
JSON object per line to standard output, for journald, Loki or Elasticsearch
(docs/operations.md#logs). Twisted's own C{--log-format=json} starts each
record with C{\\x1e} (RFC 7464), which a reader calling C{json.loads} on each
line cannot parse. This module runs in the master and imports nothing of
recycler's, so that twistd can load it before the plugin.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from twisted.logger import FileLogObserver, ILogObserver, LogEvent, formatEvent

STDOUT = "-"
"""The C{--access-log} value that sends the lines to the worker's stdout (the master's log)."""


def eventAsJSON(event: LogEvent) -> str:
    """
    One event as one line of JSON: C{time} (ISO 8601, UTC), C{level}
    (C{"info"}, C{"warn"}, ...), C{message} (the rendered text), C{namespace},
    C{traceback} for a logged failure, then the event's own fields (C{workerId},
    C{event}, ...). Twisted's C{log_*} keys are left out; a field JSON cannot
    encode (bytes, objects, NaN) is given as its C{repr}. Newlines inside
    strings are escaped, and non-ASCII characters too, so a line is one record.
    """
    level = event.get("log_level")
    record: dict[str, Any] = {
        "time": _isoTime(event.get("log_time", time.time())),
        "level": "info" if level is None else level.name,
        "message": formatEvent(event),
        "namespace": event.get("log_namespace", "-"),
    }
    failure = event.get("log_failure")
    if failure is not None and "traceback" not in event:
        record["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if not key.startswith("log_") and key not in record:
            record[key] = _jsonSafe(value)
    return json.dumps(record, separators=(",", ":")) + "\n"


def jsonLinesObserver(out: TextIO | None = None) -> ILogObserver:
    """
    An observer writing L{eventAsJSON} lines to C{out}, flushed after each.
    twistd's C{--logger} calls it with no argument before it redirects
    C{sys.stdout} into the log: it then writes to the process's standard output.
    """
    return FileLogObserver(sys.stdout if out is None else out, eventAsJSON)


def accessLogPath(text: str) -> str:
    """
    Check an C{--access-log} value: C{-}, or a file the master can append to
    or a directory to create it in, returned as an absolute path. The file is
    not created here: the workers create it, as the user they run as (after
    C{twistd --uid}, not root).

    @raise ValueError: saying why the workers could not append to it.
    """
    if text == STDOUT:
        return text
    if not text.strip():
        raise ValueError("expected a file path, or - for the master's log")
    path = os.path.abspath(text)
    if not os.path.lexists(path):
        if not os.path.isdir(os.path.dirname(path)):
            raise ValueError(f"cannot create {path}: no directory {os.path.dirname(path)}")
        return path
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as e:
        raise ValueError(f"cannot append to {path}: {e.strerror}") from None
    return path


accessLogPath.coerceDoc = "A file, or - for the master's log."  # type: ignore[attr-defined]


def _isoTime(seconds: float) -> str:
    """C{2024-05-01T12:00:00.123456Z}."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _jsonSafe(value: object) -> object:
    """C{value} if JSON encodes it as it is, else its C{repr}."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)
    return value
