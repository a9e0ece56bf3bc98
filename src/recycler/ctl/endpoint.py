# -*- test-case-name: tests.ctl.test_endpoint -*-
"""Where the admin port is: the server's endpoint syntax, read as an address to connect to.

C{--admin} takes what the server's C{--admin} takes (C{tcp:10081:interface=127.0.0.1},
C{unix:/run/recycler/admin.sock:mode=600}), or the client forms C{tcp:HOST:PORT}
and C{tcp:host=HOST:port=PORT}. A server bound to every interface is reached on
loopback. Colons inside a value are escaped with a backslash, as in Twisted.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ADMIN = "tcp:10081:interface=127.0.0.1"
"""The server's default admin endpoint."""

_LOOPBACK = {"tcp": "127.0.0.1", "tcp6": "::1"}
_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class EndpointError(ValueError):
    """An endpoint the client cannot connect to; the message says why."""


@dataclass(frozen=True)
class Address:
    """
    The admin port's address: C{path} for a unix socket, else C{host} and C{port}.
    """

    host: str | None = None
    port: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def splitEndpoint(text: str) -> list[str]:
    """Split C{text} at the colons that are not escaped with a backslash; unescape the rest."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parseEndpoint(text: str) -> Address:
    """
    The address to connect to for the endpoint C{text}.

    @raise EndpointError: for C{none}, another kind of endpoint, or a bad port.
    """
    kind, *fields = splitEndpoint(text.strip())
    kind = kind.lower()
    if kind == "none":
        raise EndpointError("the admin port is off ('none')")
    positional = [field for field in fields if "=" not in field]
    keywords = dict(field.split("=", 1) for field in fields if "=" in field)
    if kind == "unix":
        path = keywords.get("address", keywords.get("path", positional[0] if positional else ""))
        if not path:
            raise EndpointError(f"{text!r}: no socket path (unix:PATH)")
        return Address(path=path)
    if kind not in _LOOPBACK:
        raise EndpointError(f"{text!r}: use tcp:[HOST:]PORT, tcp6:[HOST:]PORT or unix:PATH")
    host = keywords.get("host", keywords.get("interface"))
    port = keywords.get("port")
    if len(positional) == 2:
        host, port = positional
    elif len(positional) == 1:
        port = positional[0]
    elif positional:
        raise EndpointError(f"{text!r}: too many fields (tcp:[HOST:]PORT)")
    return Address(host=_reachable(kind, host), port=_port(text, port))


def _reachable(kind: str, host: str | None) -> str:
    """The host to connect to: loopback for none given, or for every interface."""
    return _ANY.get(host, host) if host else _LOOPBACK[kind]


def _port(text: str, port: str | None) -> int:
    try:
        number = int(port or "")
    except ValueError:
        raise EndpointError(f"{text!r}: the port must be a number, got {port!r}") from None
    if not 0 < number < 65536:
        raise EndpointError(f"{text!r}: the port must be 1 to 65535, got {number}")
    return number
