"""The control protocol between the master and a worker: one JSON object per line.

The master writes commands to the worker's fd 3; the worker writes events to its
fd 4. Every message is a small JSON object (well under C{PIPE_BUF}, so each write
is atomic) ended by C{\\n}. See docs/architecture.md for the list of wire.
"""

from __future__ import annotations

import json
from typing import Any

COMMAND_FD = 3
"""The worker reads master commands from this fd; EOF means the master is gone."""

EVENT_FD = 4
"""The worker writes its events (ready, status) to this fd."""

FIRST_LISTENER_FD = 5
"""The first shared listening socket; further ones follow in order."""


def encode(kind: str, **fields: Any) -> bytes:
    """One message as a line of JSON, e.g. C{encode("ready")}."""
    return json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """
    Parse one line into a message dict that has at least a string C{kind}.

    @raise ValueError: if the line is not such a message.
    """
    message = json.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise ValueError(f"not a control message: {line[:80]!r}")
    return message
