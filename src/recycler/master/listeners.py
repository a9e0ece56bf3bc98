# -*- test-case-name: tests.master.test_listeners -*-
"""The shared listening sockets: bound once by the master, accepted on only by workers.

The master binds through Twisted endpoints (so C{tcp:8080:interface=...},
C{tcp6:...} and privileged ports work as everywhere in Twisted), then stops
reading at once: it never accepts. Closing is the last step of a stop, because
the master's C{stopListening} shuts the socket down for every process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList, gatherResults
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

DEFAULT_BACKLOG = 1024
"""Listen backlog used unless the description sets one (Twisted's own default is 50)."""

SUPPORTED_TYPES = ("tcp", "tcp6", "systemd")
"""Endpoint types whose sockets workers can share."""


def withDefaultBacklog(description: str, backlog: int = DEFAULT_BACKLOG) -> str:
    """
    Add C{:backlog=N} to a tcp endpoint description that does not set one (an
    inherited systemd socket keeps the backlog systemd gave it).
    """
    if "backlog=" in description or not description.startswith("tcp"):
        return description
    return f"{description}:backlog={backlog}"


def checkDescription(
    reactor: object, description: str, environ: Mapping[str, str] = os.environ
) -> None:
    """
    Check that an endpoint description is valid and shareable, without binding.

    @param environ: Where systemd socket activation passed its sockets.
    @raise ValueError: with a message meant for the user.
    """
    kind = description.split(":", 1)[0]
    if kind == "unix" or (kind == "systemd" and "domain=UNIX" in description):
        raise ValueError(
            f"{description!r}: a UNIX socket cannot be shared with workers: Twisted's UNIX "
            f"port would unlink the socket file for everyone when one worker stops; put a "
            f"proxy in front, or use a tcp: endpoint on 127.0.0.1"
        )
    if kind not in SUPPORTED_TYPES:
        raise ValueError(
            f"{description!r}: only {', '.join(SUPPORTED_TYPES)} endpoints can be shared "
            f"with workers (e.g. tcp:8080:interface=127.0.0.1; for TLS, --tls-cert)"
        )
    try:
        endpoints.serverFromString(reactor, description)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        if kind == "systemd" and isinstance(e, (IndexError, KeyError)):
            raise ValueError(f"{description!r}: {_missingSystemdSocket(environ)}") from None
        raise ValueError(f"{description!r} is not a valid endpoint: {e}") from None


def _missingSystemdSocket(environ: Mapping[str, str]) -> str:
    """What is missing from the socket activation C{environ} describes, for the user."""
    count, names, pid = (environ.get(k) for k in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"))
    if count is None or pid is None:
        unset = " and ".join(k for k in ("LISTEN_FDS", "LISTEN_PID") if k not in environ)
        return (
            f"the master was not started by systemd socket activation ({unset} not set): "
            f"start it from a .socket unit (see docs/operations.md)"
        )
    if pid != str(os.getpid()):
        return (
            f"LISTEN_PID={pid} names another process than the master ({os.getpid()}): "
            f"start twistd directly, not from a program that forks"
        )
    if names is None:
        return "LISTEN_FDNAMES is not set: Twisted needs it (systemd 227 and later set it)"
    if str(len(names.split(":"))) != count:
        return f"LISTEN_FDNAMES={names} does not name each of the LISTEN_FDS={count} sockets"
    return f"no such inherited socket among LISTEN_FDS={count} (LISTEN_FDNAMES={names})"


class _NeverServed(Protocol):
    """Never instantiated: the master stops reading before any accept."""


class SharedListeners:
    """
    The listening sockets the workers share.

    @ivar descriptions: Endpoint descriptions, in the order workers get them.
    @ivar ports: The bound ports, once L{listen} has succeeded.
    """

    log = Logger()

    def __init__(self, reactor: object, descriptions: Sequence[str]) -> None:
        self._reactor = reactor
        self.descriptions = list(descriptions)
        self.ports: list[IListeningPort] = []

    def listen(self) -> Deferred[list[IListeningPort]]:
        """Bind every description; fails with the first error."""
        factory = Factory.forProtocol(_NeverServed)
        factory.noisy = False
        bound = [
            endpoints.serverFromString(self._reactor, withDefaultBacklog(d)).listen(factory)
            for d in self.descriptions
        ]
        result = gatherResults(bound, consumeErrors=True)
        result.addCallback(self._bound)
        return result

    def _bound(self, ports: list[IListeningPort]) -> list[IListeningPort]:
        for description, port in zip(self.descriptions, ports, strict=True):
            port.stopReading()
            address = port.getHost()
            self.log.info(
                "listening on {description} ({host}:{port})",
                description=description,
                host=address.host,
                port=address.port,
                event="listening",
            )
        self.ports = ports
        return ports

    def filenos(self) -> list[int]:
        """The sockets' fds, to hand to workers."""
        return [port.fileno() for port in self.ports]

    def close(self) -> Deferred[object]:
        """Close the sockets; only once no worker uses them any more."""
        ports, self.ports = self.ports, []
        return DeferredList([port.stopListening() for port in ports])
