"""Tests of L{recycler.admin.guard}: the growing delay before answering a wrong token."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.guard import FORGET_AFTER, MAX_DELAY, AuthThrottle


class AuthThrottleTests(SynchronousTestCase):
    """Wrong tokens by address, and the delay each one gets."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.throttle = AuthThrottle(self.clock)

    def fail(self, host: str = "10.0.0.1") -> float:
        return self.throttle.failed(host, f"{host}:4000", 1)

    def test_theDelayDoublesUpToTheMaximum(self) -> None:
        """0.1 s, then twice as long each time, up to a few seconds."""
        delays = [self.fail() for _ in range(10)]
        self.assertEqual(delays[:6], [0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
        self.assertEqual(delays[6:], [MAX_DELAY] * 4)

    def test_eachAddressCountsApart(self) -> None:
        """Another address starts from the first delay."""
        self.fail()
        self.fail()
        self.assertEqual(self.fail("10.0.0.2"), 0.1)

    def test_aQuietAddressIsForgotten(self) -> None:
        """After a while without wrong tokens, an address starts again from the first delay."""
        self.fail()
        self.clock.advance(FORGET_AFTER - 1)
        self.assertEqual(self.fail(), 0.2)
        self.clock.advance(FORGET_AFTER)
        self.assertEqual(self.fail(), 0.1)

    def test_memoryIsBounded(self) -> None:
        """Beyond its limit, the throttle forgets the address whose last failure is oldest."""
        throttle = AuthThrottle(self.clock, maxAddresses=2)
        for host in ("a", "b", "a", "c"):
            throttle.failed(host, host, 1)
        self.assertEqual(throttle.failed("a", "a", 1), 0.4, "a is remembered")
        self.assertEqual(throttle.failed("b", "b", 1), 0.1, "b was forgotten")

    def test_aHugeCountDoesNotOverflow(self) -> None:
        """Thousands of wrong tokens still give the maximum delay, not an error."""
        for _ in range(5000):
            delay = self.fail()
        self.assertEqual(delay, MAX_DELAY)

    def test_eachFailureIsLogged(self) -> None:
        """A warning with the address, the counts and the delay."""
        with capturedLogs() as events:
            self.throttle.failed("10.0.0.1", "10.0.0.1:4000", 2)
        [event] = events
        self.assertEqual(event["event"], "admin-bad-token")
        self.assertEqual(event["log_level"].name, "warn")
        fields = {key: event[key] for key in ("host", "peer", "failures", "fromHost", "delay")}
        self.assertEqual(
            fields,
            {
                "host": "10.0.0.1",
                "peer": "10.0.0.1:4000",
                "failures": 2,
                "fromHost": 1,
                "delay": 0.1,
            },
        )
