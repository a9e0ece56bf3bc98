# -*- test-case-name: tests.worker.test_sockets -*-
"""The shared listening sockets, seen from a worker: adopted, one accept per wake-up.

The master passes them as fds 5, 6, ... (L{wire.FIRST_LISTENER_FD}); the worker
adopts each into a Twisted port that accepts one connection per wake-up.
"""

from __future__ import annotations

import socket

from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorSocket
from twisted.logger import Logger

from recycler import wire

log = Logger()


def adoptListeners(
    reactor: IReactorSocket,
    count: int,
    factory: IProtocolFactory,
    firstFD: int = wire.FIRST_LISTENER_FD,
) -> list[IListeningPort]:
    """
    Adopt the C{count} listening sockets the master passed from fd C{firstFD} on,
    in order, and close the raw fds (a subprocess the app starts cannot inherit them).
    """
    ports = []
    for offset in range(count):
        sock = socket.socket(fileno=firstFD + offset)
        try:
            # Twisted requires it; a socket the master's Twisted bound already is.
            sock.setblocking(False)
            port = reactor.adoptStreamPort(sock.fileno(), sock.family, factory)
        finally:
            sock.close()
        acceptOnePerWakeup(port)
        ports.append(port)
    return ports


def acceptOnePerWakeup(port: IListeningPort) -> None:
    """
    Make C{port} accept one connection each time the socket is readable.

    Every worker polls the same socket and the kernel wakes them all; Twisted
    accepts up to 100 connections per wake-up (adaptively), so the first worker
    to run takes a whole burst. One accept per wake-up spreads a burst over the
    workers (docs/benchmarks.md has the measured split).

    This pins C{twisted.internet.tcp.Port.numberAccepts}, an implementation
    detail that every C{doRead} resets, so it is pinned before each call. A
    port without it (Twisted renamed it) is logged as an error, and served
    unpinned: the tweak only evens out the load, and refusing to start would
    turn a Twisted upgrade into an outage of the whole pool (every worker
    failing, the master backing off). tests.worker.test_sockets checks it
    against a real C{tcp.Port}, so a rename fails the test suite instead.
    """
    if not hasattr(port, "numberAccepts"):
        log.error(
            "{port!r} has no numberAccepts: Twisted changed, and this worker accepts "
            "connections in bursts (recycler.worker.sockets.acceptOnePerWakeup)",
            port=port,
        )
        return
    doRead = port.doRead

    def doReadOne() -> object:
        port.numberAccepts = 1
        return doRead()

    port.doRead = doReadOne
