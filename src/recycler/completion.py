"""A one-shot event that any number of callers can wait for."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed


class Completion:
    """
    Something that happens once (a drain finished, every worker exited).
    L{wait} gives each caller its own Deferred, fired by L{fire}, or at once
    if it already happened.

    @ivar done: Whether L{fire} has been called.
    """

    def __init__(self) -> None:
        self.done = False
        self._waiting: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """A Deferred that fires (with L{None}) once this has happened."""
        if self.done:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def fire(self) -> None:
        """It happened: fire every waiter. Later calls do nothing."""
        if self.done:
            return
        self.done = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)
