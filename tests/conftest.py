"""Shared fixtures: a factory of real servers that are always cleaned up."""

from __future__ import annotations

import pytest

from tests.harness import Server


@pytest.fixture
def startServer():
    """Start real servers with C{startServer(*args)}; all are killed after the test."""
    servers: list[Server] = []

    def start(*args: str, **kwargs: str) -> Server:
        server = Server(*args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
