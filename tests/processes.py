"""Helpers for tests that run real processes: an HTTP GET, waiting for a child to exit,
rewriting an app module they import."""

from __future__ import annotations

import http.client
import os
import time
from pathlib import Path

from twisted.trial.unittest import FailTest


def writeModule(directory: Path, name: str, source: str) -> None:
    """
    (Re)write module C{name} in C{directory}, dropping its cached bytecode: a
    rewrite within the same second, of the same size, would otherwise be
    imported from the stale C{.pyc}.
    """
    (directory / f"{name}.py").write_text(source)
    for cached in (directory / "__pycache__").glob(f"{name}.*"):
        cached.unlink()


def httpGet(port: int) -> bytes:
    """The body of C{GET /} on 127.0.0.1:C{port}."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read()
    finally:
        connection.close()


def waitForZombie(pid: int, timeout: float) -> None:
    """Wait until child C{pid} has exited, without reaping it; fail after C{timeout} s."""
    deadline = time.monotonic() + timeout
    while not os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
        if time.monotonic() > deadline:
            raise FailTest(f"child {pid} did not exit")
        time.sleep(0.002)
