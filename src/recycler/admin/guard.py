# -*- test-case-name: tests.admin.test_guard -*-
"""Slowing token guessing down: a delay before each wrong-token answer, growing per address.

The delay doubles with every wrong token from one client address, from
L{FIRST_DELAY} up to L{MAX_DELAY}, and the count outlives the connection (a
guesser cannot reset it by reconnecting) until the address has been quiet for
L{FORGET_AFTER} seconds. At most L{MAX_ADDRESSES} addresses are remembered.
Every wrong token is logged as a warning (C{event="admin-bad-token"}, with the
client's address; never the token).
"""

from __future__ import annotations

from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

FIRST_DELAY = 0.1
"""Seconds before answering the first wrong token from an address."""

MAX_DELAY = 5.0
"""The most seconds any wrong-token answer waits."""

FORGET_AFTER = 600.0
"""Seconds without a wrong token after which an address starts again from L{FIRST_DELAY}."""

MAX_ADDRESSES = 4096
"""Addresses remembered at most; beyond, the one whose last wrong token is oldest goes."""


class AuthThrottle:
    """Wrong tokens by client address, and how long to wait before answering the next."""

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        firstDelay: float = FIRST_DELAY,
        maxDelay: float = MAX_DELAY,
        forgetAfter: float = FORGET_AFTER,
        maxAddresses: int = MAX_ADDRESSES,
    ) -> None:
        self.clock = clock
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
        self.forgetAfter = forgetAfter
        self.maxAddresses = maxAddresses
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        """(count, time of the last) by address, the least recent first."""

    def failed(self, host: str, peer: str, failures: int) -> float:
        """
        Count and log a wrong token from the client address C{host}.

        @param peer: The client's whole address (with its port), for the log.
        @param failures: The wrong tokens its connection sent, this one included.
        @return: The seconds to wait before answering it.
        """
        now = self.clock.seconds()
        self._forgetOld(now)
        count, _ = self._failures.pop(host, (0, now))
        count += 1
        self._failures[host] = (count, now)
        while len(self._failures) > self.maxAddresses:
            self._failures.popitem(last=False)
        delay = self._delay(count)
        self.log.warn(
            "admin {peer}: bad token ({failures} on this connection, {fromHost} from {host}"
            " lately); answering in {delay}s",
            event="admin-bad-token",
            peer=peer,
            host=host,
            failures=failures,
            fromHost=count,
            delay=delay,
        )
        return delay

    def waitBefore(self, host: str) -> float:
        """
        Seconds before a token from C{host} may be checked again (0: now). No
        token is checked while a wrong one's delay runs, however it is sent
        (from a new connection, or a right one): a guesser who hangs up
        instead of waiting for the answer learns nothing faster.
        """
        count, last = self._failures.get(host, (0, 0.0))
        return max(0.0, last + self._delay(count) - self.clock.seconds()) if count else 0.0

    def _delay(self, count: int) -> float:
        return min(self.firstDelay * 2 ** min(count - 1, 32), self.maxDelay)

    def _forgetOld(self, now: float) -> None:
        while self._failures:
            address, (_, last) = next(iter(self._failures.items()))
            if now - last < self.forgetAfter:
                return
            del self._failures[address]
