"""End-to-end harness: the real server in a subprocess, its JSON log, and an HTTP load.

The server runs as C{python -m twisted --log-format=json recycler ...} on a free
port; tests wait on its structured log events (with deadlines), and every
process it started is killed when the test ends.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil
import treq
from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults
from twisted.web.client import Agent, HTTPConnectionPool

from recycler.testing.server import Event, Server

__all__ = [
    "AdminClient",
    "Event",
    "Server",
    "acceptedConnections",
    "load",
    "processGone",
    "waitUntil",
]


def processGone(pid: int) -> bool:
    """True once C{pid} has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def acceptedConnections(pids: Sequence[int], port: int) -> int:
    """How many TCP connections to C{port} the given processes have accepted."""
    total = 0
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        total += sum(
            1 for c in connections if c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
        )
    return total


def waitUntil(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll C{predicate} every 20 ms until truthy, failing after C{timeout} seconds."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return result


async def load(reactor, url: str, total: int, concurrency: int) -> list[tuple[Any, bytes]]:
    """
    Send C{total} GETs, C{concurrency} at a time, over keep-alive connections
    with automatic retries off: any connection the server drops is a failure.

    @return: (status code or exception text, body) per request.
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = concurrency
    pool.retryAutomatically = False
    agent = Agent(reactor, pool=pool)
    limit = DeferredSemaphore(concurrency)

    async def one() -> tuple[Any, bytes]:
        try:
            response = await treq.get(url, agent=agent, timeout=30)
            return response.code, await response.content()
        except Exception as e:
            return f"{type(e).__name__}: {e}", b""

    try:
        return await gatherResults([limit.run(lambda: ensureDeferred(one())) for _ in range(total)])
    finally:
        await pool.closeCachedConnections()


class AdminClient:
    """A blocking client of the admin port: one command, then the reply's lines."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._file = self.socket.makefile("rb")

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def readLine(self) -> str:
        line = self._file.readline()
        if not line:
            raise ConnectionError("the admin port closed the connection")
        return line.decode().rstrip("\r\n")

    def command(self, line: str) -> list[str]:
        """Send a text-mode command; return its lines up to and including C{ok} or C{error:}."""
        self.send(line.encode() + b"\n")
        lines = []
        while True:
            lines.append(self.readLine())
            if lines[-1] == "ok" or lines[-1].startswith("error:"):
                return lines

    def json(self, line: str) -> dict[str, Any]:
        """Send a command with C{--json}; return the parsed reply."""
        self.send(line.encode() + b" --json\n")
        return json.loads(self.readLine())

    def close(self) -> None:
        self._file.close()
        self.socket.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
