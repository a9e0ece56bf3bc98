"""Unit tests of the pure policies: TTL ranges and crash backoff."""

from __future__ import annotations

import pytest

from recycler.master.policy import TTLRange, crashBackoff


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0:5", TTLRange(0, 5)), ("1.5:2", TTLRange(1.5, 2)), ("3", TTLRange(3, 3)), ("off", None)],
)
def test_parse(text, expected):
    """MIN:MAX, a single number and 'off' are accepted."""
    assert TTLRange.parse(text) == expected


@pytest.mark.parametrize("text", ["", "a:b", "5:1", "-1:2", "1:inf", "1:2:3"])
def test_parseRejects(text):
    """Malformed or inverted ranges are refused with a message."""
    with pytest.raises(ValueError, match="got"):
        TTLRange.parse(text)


def test_drawIsUniformOverTheRange():
    """The draw maps [0, 1) linearly onto [MIN, MAX)."""
    ttl = TTLRange(2, 6)
    assert [ttl.draw(lambda r=r: r) for r in (0, 0.25, 0.999)] == [2, 3, pytest.approx(5.996)]


def test_crashBackoffDoublesUpToACap():
    """Backoff starts at 0.5 s, doubles, and stops growing at 30 s (plus jitter)."""
    policy = crashBackoff(lambda: 0)
    assert [policy(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert crashBackoff(lambda: 0.999)(0) == pytest.approx(0.9995)
