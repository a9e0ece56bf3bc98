# -*- test-case-name: tests.test_tap -*-
"""Checks of C{twistd recycler}'s option values: each parses a value or says what it must be.

L{namingErrors} makes their errors name the option (C{--workers: must be at
least 1, got 0}), which L{twisted.python.usage.Options} does not: it says
C{Parameter type enforcement failed: ...}.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.python import usage

T = TypeVar("T")


def checked(
    parse: Callable[[str], T],
    valid: Callable[[T], bool],
    expected: str,
    doc: str,
    orOff: bool = False,
) -> Callable[[str], T | None]:
    """
    A check of an option's value: C{parse(text)} if it is C{valid}, else an
    error saying what is C{expected}. With C{orOff}, C{off} (or C{0}) gives
    L{None}. C{doc} is shown by C{--help}.
    """

    def check(text: str) -> T | None:
        if orOff and text.strip().lower() in ("off", "0"):
            return None
        try:
            value = parse(text.strip())
        except ValueError:
            raise ValueError(f"must be {expected}, got {text!r}") from None
        if not valid(value):
            raise ValueError(f"must be {expected}, got {value}")
        return value

    check.__doc__ = check.coerceDoc = doc  # type: ignore[attr-defined]
    return check


def sizeInBytes(text: str) -> int:
    """
    A size: MiB without a unit; with one, K, M, G, KiB, MiB and GiB are powers
    of 1024, KB, MB and GB powers of 1000 (in any case: C{512m} is C{512M}).
    """
    match = re.fullmatch(r"(\d+(?:\.\d*)?) *(?:([KMG])(i?B)?)?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, prefix, suffix = match.groups()
    base = 1000 if (suffix or "").lower() == "b" else 1024
    return int(float(number) * base ** ("KMG".index((prefix or "M").upper()) + 1))


def onOff(text: str) -> bool:
    """C{on} or C{off}, as a bool."""
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"expected on or off, got {text!r}")
    return value == "on"


onOff.coerceDoc = "on or off."  # type: ignore[attr-defined]


def _isPositive(seconds: float) -> bool:
    return 0 < seconds < float("inf")


positiveInt = checked(int, lambda n: n >= 1, "at least 1", "Must be at least 1.")
nonNegativeInt = checked(int, lambda n: n >= 0, "0 or more", "0 or more.")
niceIncrement = checked(int, lambda n: 0 <= n <= 19, "0 to 19", "0 (off) to 19.")
positiveFloat = checked(
    float, _isPositive, "a positive number of seconds", "Seconds, greater than 0."
)
secondsOrOff = checked(float, _isPositive, "seconds above 0, or off", "Seconds, or off.", True)
countOrOff = checked(int, lambda n: n >= 1, "at least 1, or off", "A count, or off.", True)
spawnMode = checked(
    str.lower, lambda mode: mode in ("fork", "exec"), "fork or exec", "fork or exec."
)
sizeOrOff = checked(
    sizeInBytes,
    lambda size: size >= 1,
    "a size such as 512, 512M or 2GiB (MiB without a unit), or off",
    "MiB, or 512M, 2GiB (powers of 1024), 500MB (of 1000); or off.",
    True,
)


def namingErrors(parameters: list[list[Any]]) -> list[list[Any]]:
    """C{optParameters} whose checks name their option in their errors."""
    return [[*row[:4], _naming(row[0], row[4])] if len(row) > 4 else row for row in parameters]


def _naming(name: str, check: Callable[[str], object]) -> Callable[[str], object]:
    @functools.wraps(check)
    def checkNamed(text: str) -> object:
        try:
            return check(text)
        except ValueError as e:
            raise usage.UsageError(f"--{name}: {e}") from None

    return checkNamed
