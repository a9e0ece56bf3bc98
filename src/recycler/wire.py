# -*- test-case-name: tests.test_wire -*-
"""The wire between the master and a worker: fd layout, message kinds, line codec.

This is the one module both sides import.
The master writes commands to the worker's fd 3; the worker writes events to
its fd 4; listening sockets are fds 5, 6, ... Every message is a small JSON
object (well under C{PIPE_BUF}, so each write is atomic) ended by C{\\n}. See
docs/architecture.md for the list of messages.

The fork server (C{python -m recycler.worker.forkserver}) has the same layout,
except that its fd 3 is its end of a C{SOCK_SEQPACKET} socket pair: one
request (L{ForkRequest}) or reply (L{ForkReply}) per packet, the same JSON, and
a fork request carries the new worker's fds 1-4 as C{SCM_RIGHTS}
(L{FORKED_FDS}). It reports L{Event.READY} or L{Event.FAILED} on its fd 4.
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

FORK_SERVER_MODULE = "recycler.worker.forkserver"
"""What the master runs with C{python -m} to get a fork server."""

FORK_SOCKET_FD = COMMAND_FD
"""The fork server's end of its C{SOCK_SEQPACKET} socket pair; EOF means the master is gone."""

FORKED_FDS = (1, 2, COMMAND_FD, EVENT_FD)
"""
The worker fds that the four C{SCM_RIGHTS} fds of a fork request become, in
this order: stdout, stderr, commands, events (the worker's ends of four pipes).
"""

MAX_FORK_MESSAGE = 64 * 1024
"""Largest fork request or reply, in bytes (one packet each)."""


class Command(enum.StrEnum):
    """What the master asks of a worker."""

    DRAIN = "drain"
    """Stop accepting, finish what is in flight, exit."""

    REOPEN = "reopen"
    """Reopen the access log at its path (the master got SIGUSR1: logrotate renamed it)."""


class Event(enum.StrEnum):
    """What a worker tells the master."""

    READY = "ready"
    """Serving: the sockets are adopted and the app is loaded."""

    STATUS = "status"
    """Requests served and in flight; sent every status interval, so also a heartbeat."""

    FAILED = "failed"
    """The app cannot be served; C{reason} says why. The worker exits next."""


class ForkRequest(enum.StrEnum):
    """What the master asks of the fork server (one packet, with fds)."""

    FORK = "fork"
    """Fork a worker running with C{argv} (its options) on the fds that come with it."""


class ForkReply(enum.StrEnum):
    """The fork server's answer to one L{ForkRequest}."""

    FORKED = "forked"
    """The worker runs as C{pid}, already re-parented to the master (its subreaper)."""

    ERROR = "error"
    """No worker was started; C{reason} says why."""


def encode(kind: Command | Event | ForkRequest | ForkReply, **fields: Any) -> bytes:
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
    Split an C{--app} value into its module and attribute path. The master
    checks it before it passes it to the workers.

    Two forms: C{"package.module:attribute.path"}, and Twisted's dotted
    C{"package.module.attribute"} (as C{twistd web --wsgi} takes it), whose
    module is everything up to the last dot.

    @raise ValueError: if a part is missing or empty (a single word, C{"mod:"},
        C{"a..b"}), or there are two colons.
    """
    module, colon, attribute = name.partition(":")
    if not colon:
        module, _, attribute = name.rpartition(".")
    parts = [*module.split("."), *attribute.split(".")]
    if not all(parts) or ":" in attribute:
        raise ValueError(f"expected 'package.module:name', got {name!r}")
    return module, attribute
