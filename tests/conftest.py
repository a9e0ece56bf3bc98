"""Shared fixtures: a factory of real servers that are always cleaned up."""

from __future__ import annotations

import pytest

from tests.harness import Server


@pytest.fixture(params=["fork", "exec"])
def spawnMode(request: pytest.FixtureRequest) -> str:
    """Every end-to-end test runs with forked workers (the default) and exec'd ones."""
    return request.param


@pytest.fixture
def startServer(spawnMode: str):
    """Start real servers with C{startServer(*args)}; all are killed after the test."""
    servers: list[Server] = []

    def start(*args: str, **kwargs: str) -> Server:
        server = Server("--spawn", spawnMode, *args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
