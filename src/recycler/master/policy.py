# -*- test-case-name: tests.master.test_policy -*-
"""Pure pool policies: worker lifetimes (TTL ranges) and crash-loop backoff.

Nothing here touches a reactor; randomness is a parameter so tests can pin it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from twisted.application.internet import backoffPolicy

Random = Callable[[], float]
"""A 0-argument callable returning a float in [0, 1), like C{random.random}."""


@attrs.frozen
class TTLRange:
    """
    The range a worker's time-to-live is drawn from, uniformly, once per worker.

    @ivar minimum: Shortest lifetime, in seconds.
    @ivar maximum: Longest lifetime, in seconds.
    """

    minimum: float
    maximum: float

    @classmethod
    def parse(cls, text: str) -> TTLRange | None:
        """
        Parse C{"MIN:MAX"} (seconds), C{"N"} (exactly N seconds), or C{"off"}
        or C{"0"} (as C{--timeout} and C{--max-requests} take 0 for off).

        @return: the range, or L{None} for off (workers live forever).
        @raise ValueError: with a message meant for the user.
        """
        text = text.strip()
        if text.lower() in ("off", "0"):
            return None
        low, sep, high = text.partition(":")
        if not sep:
            low = high = text
        try:
            minimum, maximum = float(low), float(high)
        except ValueError:
            raise ValueError(f"expected MIN:MAX in seconds or 'off', got {text!r}") from None
        if not (0 <= minimum <= maximum) or maximum == float("inf"):
            raise ValueError(f"need finite 0 <= MIN <= MAX, got {text!r}")
        return cls(minimum, maximum)

    def draw(self, random: Random) -> float:
        """A lifetime drawn uniformly from the range."""
        return self.minimum + (self.maximum - self.minimum) * random()

    def __str__(self) -> str:
        return f"{self.minimum:g}:{self.maximum:g}"


def crashBackoff(random: Random) -> Callable[[int], float]:
    """
    Delay before respawning after the N-th consecutive worker that died before
    it became ready: 0.5 s, doubling, capped at 30 s, plus up to 0.5 s of jitter.
    """
    return backoffPolicy(initialDelay=0.5, maxDelay=30.0, factor=2.0, jitter=lambda: random() / 2)
