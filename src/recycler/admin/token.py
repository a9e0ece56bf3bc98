# -*- test-case-name: tests.test_tap -*-
"""Who may use the admin port: its optional token (what a valid one looks like, how it is
compared), and which endpoints other hosts can reach, so that they need one."""

from __future__ import annotations

import hmac
import ipaddress

from twisted.internet.endpoints import UNIXServerEndpoint


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


def reachableFromOtherHosts(endpoint: object) -> bool:
    """
    Whether a server endpoint (as C{serverFromString} builds it) may take
    clients from other hosts: anything but a UNIX socket or a TCP port bound to
    a loopback address. An endpoint whose interface cannot be told (Twisted
    keeps it in C{_interface}) counts as reachable.
    """
    if isinstance(endpoint, UNIXServerEndpoint):
        return False
    interface = getattr(endpoint, "_interface", None)
    if not isinstance(interface, str):
        return True
    if interface == "localhost":
        return False
    try:
        return not ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return True
