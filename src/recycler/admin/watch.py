# -*- test-case-name: tests.admin.test_protocol -*-
"""C{watch}: one client's relay of the pool's worker events, which never queues them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.logger import Logger, LogPublisher

from recycler.admin import render


class Watch:
    """
    Relays the pool's worker events to one client, one line each, from
    L{start} to L{stop}. While the client does not read its output (L{pause}),
    events are dropped and counted; once it caught up (L{resume}), it gets one
    C{dropped count=N} line.
    """

    log = Logger()

    def __init__(self, events: LogPublisher, send: Callable[[str], None], asJSON: bool) -> None:
        """
        @param events: The pool's event channel.
        @param send: Writes one line to the client.
        @param asJSON: Whether events are sent as JSON lines.
        """
        self._events = events
        self._send = send
        self.asJSON = asJSON
        self._paused = False
        self._dropped = 0

    def start(self) -> None:
        """Relay the events from now on."""
        self._events.addObserver(self._relay)

    def stop(self) -> None:
        """Relay no more events."""
        self._events.removeObserver(self._relay)

    def pause(self) -> None:
        """The client's output buffer is full: drop events until L{resume}."""
        self._paused = True

    def resume(self) -> None:
        """The client caught up: say how many events it missed, if any."""
        self._paused = False
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            self._sendEvent({"event": "dropped", "count": dropped})

    def _relay(self, event: Mapping[str, Any]) -> None:
        """Relay a worker event of the pool to the client; never raises into the publisher."""
        try:
            fields = render.watchFields(event)
            if fields is None:
                return
            if self._paused:
                self._dropped += 1
                return
            self._sendEvent(fields)
        except Exception:
            self.log.failure("admin: cannot relay a pool event")

    def _sendEvent(self, fields: Mapping[str, Any]) -> None:
        self._send(render.eventLine(fields, self.asJSON))
