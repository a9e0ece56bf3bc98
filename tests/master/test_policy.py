"""Tests of L{recycler.master.policy}: TTL ranges and crash backoff."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.master.policy import TTLRange, crashBackoff


class TTLRangeTests(SynchronousTestCase):
    """Parsing and drawing worker lifetimes."""

    def test_parse(self) -> None:
        """MIN:MAX, a single number (that many seconds each), 'off' and '0' (off) are accepted."""
        cases = [
            ("0:5", TTLRange(0, 5)),
            ("1.5:2", TTLRange(1.5, 2)),
            ("3", TTLRange(3, 3)),
            (" 3 ", TTLRange(3, 3)),
            ("off", None),
            ("OFF", None),
            ("0", None),
            ("0:0.5", TTLRange(0, 0.5)),
        ]
        for text, expected in cases:
            self.assertEqual(TTLRange.parse(text), expected, text)

    def test_parseRejects(self) -> None:
        """Malformed or inverted ranges are refused with a message."""
        for text in ["", "a:b", "5:1", "-1:2", "1:inf", "1:2:3"]:
            with self.assertRaises(ValueError, msg=text) as caught:
                TTLRange.parse(text)
            self.assertIn("got", str(caught.exception))

    def test_drawIsUniformOverTheRange(self) -> None:
        """The draw maps [0, 1) linearly onto [MIN, MAX)."""
        ttl = TTLRange(2, 6)
        self.assertEqual(ttl.draw(lambda: 0), 2)
        self.assertEqual(ttl.draw(lambda: 0.25), 3)
        self.assertAlmostEqual(ttl.draw(lambda: 0.999), 5.996)

    def test_str(self) -> None:
        """A range prints as it is written on the command line."""
        self.assertEqual(str(TTLRange(0, 5)), "0:5")
        self.assertEqual(str(TTLRange(1.5, 2)), "1.5:2")


class CrashBackoffTests(SynchronousTestCase):
    """The delay before respawning after failed starts."""

    def test_crashBackoffDoublesUpToACap(self) -> None:
        """Backoff starts at 0.5 s, doubles, and stops growing at 30 s (plus jitter)."""
        policy = crashBackoff(lambda: 0)
        self.assertEqual([policy(n) for n in range(8)], [0.5, 1, 2, 4, 8, 16, 30, 30])

    def test_jitterIsUpToHalfASecond(self) -> None:
        """The jitter is half of what the random source returns."""
        self.assertAlmostEqual(crashBackoff(lambda: 0.999)(0), 0.9995)
        self.assertEqual(crashBackoff(lambda: 0.5)(1), 1.25)
