"""Helpers for tests that run real processes: an HTTP GET, waiting for a child to exit."""

from __future__ import annotations

import http.client
import os
import time

from twisted.trial.unittest import FailTest


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
