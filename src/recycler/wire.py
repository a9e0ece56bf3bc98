# -*- test-case-name: tests.test_wire -*-
"""The wire between the master and a worker: fd layout, message kinds, line codec.

This is the one module both sides import.
The master writes commands to the worker's fd 3; the worker writes events to
its fd 4; listening sockets are fds 5, 6, ... Every message is a small JSON
object (well under C{PIPE_BUF}, so each write is atomic) ended by C{\\n}. See
docs/architecture.md for the list of messages.
"""

from __future__ import annotations

import enum
import json
from typing import Any

COMMAND_FD = 3
"""The worker reads master commands from this fd; EOF means the master is gone."""

EVENT_FD = 4
"""The worker writes its events (ready, status, failed) to this fd."""

FIRST_LISTENER_FD = 5
"""The first shared listening socket; further ones follow in order."""


class Command(enum.StrEnum):
    """What the master asks of a worker."""

    DRAIN = "drain"
    """Stop accepting, finish what is in flight, exit."""


class Event(enum.StrEnum):
    """What a worker tells the master."""

    READY = "ready"
    """Serving: the sockets are adopted and the app is loaded."""

    STATUS = "status"
    """Requests served and in flight; sent every status interval, so also a heartbeat."""

    FAILED = "failed"
    """The app cannot be served; C{reason} says why. The worker exits next."""


def encode(kind: Command | Event, **fields: Any) -> bytes:
    """One message as a line of JSON, e.g. C{encode(Event.READY)}."""
    return json.dumps({"kind": str(kind), **fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """
    Parse one line into a message dict that has at least a string C{kind}.

    @raise ValueError: if the line is not such a message.
    """
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise ValueError(f"not a control message: {line[:80]!r}")
    return message


def splitAppName(name: str) -> tuple[str, str]:
    """
    Split an C{--app} value, C{"package.module:attribute"}, into its module and
    attribute path. The master checks it before it passes it to the workers.

    @raise ValueError: if either part is missing.
    """
    module, sep, attribute = name.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"expected 'package.module:name', got {name!r}")
    return module, attribute
