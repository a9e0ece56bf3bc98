# -*- test-case-name: tests.admin.test_protocol -*-
"""The admin port's optional token: what a valid one looks like, and how it is compared."""

from __future__ import annotations

import hmac


def checkToken(token: str | None) -> None:
    """
    Refuse a token no client could send: empty, or with white space in it.

    @raise ValueError: with a message meant for the operator.
    """
    if token is not None and (not token or token != "".join(token.split())):
        raise ValueError("the admin token must be one word, without spaces")


def tokenMatches(expected: str | None, given: str) -> bool:
    """Whether C{given} opens a port whose token is C{expected} (L{None}: any); constant-time."""
    return expected is None or hmac.compare_digest(given.encode(), expected.encode())
