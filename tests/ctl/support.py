"""A scripted admin port for recyclerctl's unit tests: the far end of a socket pair."""

from __future__ import annotations

import io
import socket

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.client import Connection
from recycler.ctl.endpoint import Address
from recycler.ctl.session import Session

ADDRESS = Address(host="127.0.0.1", port=10081)


class ScriptedConnection(Connection):
    """A real connection whose server answers each line sent with the next scripted reply."""

    port: ScriptedPort

    def send(self, line: str) -> None:
        super().send(line)
        if self.port.replies:
            reply = self.port.replies.pop(0)
            if reply is None:
                self.port.received()  # what is left unread would make close() reset
                self.port.server.close()
            else:
                self.port.server.sendall(reply.encode())


class ScriptedPort:
    """
    Hands out connections over socket pairs: the server end answers each line
    with the next of the scripted replies, and the test reads what was sent.
    """

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout
        self.servers: list[socket.socket] = []
        self.clients: list[Connection] = []
        self.replies: list[str | None] = []

    def script(self, *replies: str | None) -> None:
        """The replies to the next lines sent, one each (L{None}: close the connection)."""
        self.replies = list(replies)

    def connect(self) -> Connection:
        """A new connection."""
        client, server = socket.socketpair()
        self.servers.append(server)
        connection = ScriptedConnection(client, ADDRESS, self.timeout)
        connection.port = self
        self.clients.append(connection)
        return connection

    @property
    def server(self) -> socket.socket:
        """The server end of the latest connection."""
        return self.servers[-1]

    def received(self, index: int = -1) -> bytes:
        """Everything the client sent so far on connection C{index}."""
        server = self.servers[index]
        server.setblocking(False)
        data = b""
        try:
            while chunk := server.recv(65536):
                data += chunk
        except BlockingIOError:
            pass
        return data

    def close(self) -> None:
        """Close every socket."""
        for server in self.servers:
            server.close()
        for client in self.clients:
            client.close()


class SessionTestCase(SynchronousTestCase):
    """A test case with a L{ScriptedPort}, a L{Session} to it (no token) and output streams."""

    def setUp(self) -> None:
        self.port = ScriptedPort()
        self.addCleanup(self.port.close)
        self.session = Session(self.port.connect, None)
        self.addCleanup(self.session.close)
        self.out, self.err = io.StringIO(), io.StringIO()
