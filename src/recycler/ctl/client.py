# -*- test-case-name: tests.ctl.test_client -*-
"""A blocking connection to the admin port: lines out, replies in.

A reply is data lines and then C{ok}, or one line starting with C{error: };
in JSON mode it is one JSON object on one line; C{quit} answers C{bye}
(C{docs/admin.md}). A plain socket with timeouts is all a command-line client
needs: it does one thing at a time.
"""

from __future__ import annotations

import json
import select
import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from recycler.ctl.endpoint import Address

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for the connection and for each reply (a wrong token takes up to 5 s)."""


class AdminPortError(Exception):
    """The admin port cannot be reached, went away, or did not answer: exit status 3."""


@dataclass(frozen=True)
class Reply:
    """
    One reply: every line of it, its closing C{ok}, C{bye} or C{error:} line included.

    @ivar asJSON: Whether it is a JSON reply (one line).
    """

    lines: tuple[str, ...]
    asJSON: bool = False

    @cached_property
    def data(self) -> dict[str, Any]:
        """A JSON reply's object; raises L{AdminPortError} if it is not one."""
        try:
            data = json.loads(self.lines[-1])
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AdminPortError(f"the admin port sent no JSON object: {self.lines[-1][:80]!r}")
        return data

    @property
    def error(self) -> str | None:
        """The server's error message, if the reply is one."""
        if self.asJSON:
            return None if self.data.get("ok") else str(self.data.get("error"))
        last = self.lines[-1]
        return last.removeprefix("error:").strip() if last.startswith("error:") else None

    @property
    def shown(self) -> list[str]:
        """What to print: a text reply without its closing line; a JSON reply as it is."""
        if self.asJSON or self.error is not None:
            return list(self.lines)
        return list(self.lines[:-1])


def isLast(line: str, asJSON: bool, last: str = "ok") -> bool:
    """Whether C{line} closes a reply: C{last} or an error; in JSON mode, any reply object."""
    if asJSON:
        try:
            data = json.loads(line)
        except ValueError:
            return False
        return isinstance(data, dict) and "ok" in data
    return line == last or line.startswith("error:")


class Connection:
    """
    A connected admin client socket, read one line at a time.

    @ivar address: Where it is connected, for messages.
    @ivar timeout: Seconds to wait for a line before giving up.
    """

    def __init__(self, sock: socket.socket, address: Address, timeout: float) -> None:
        self.socket = sock
        self.address = address
        self.timeout = timeout
        self._buffer = b""

    @classmethod
    def open(cls, address: Address, timeout: float = DEFAULT_TIMEOUT) -> Connection:
        """Connect to C{address}; raise L{AdminPortError} saying why that failed."""
        sock = None
        try:
            if address.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(address.path)
            else:
                sock = socket.create_connection((address.host, address.port), timeout)
        except OSError as e:
            if sock is not None:
                sock.close()
            raise AdminPortError(
                f"cannot connect to the admin port at {address}: {_reason(e)}"
                " (is the server running? see --admin)"
            ) from None
        return cls(sock, address, timeout)

    def send(self, line: str) -> None:
        """Send one line."""
        try:
            self.socket.sendall(line.encode("utf-8") + b"\n")
        except OSError as e:
            raise AdminPortError(f"the admin port at {self.address}: {_reason(e)}") from None

    def readLine(self, forever: bool = False) -> str:
        """
        The next line, without its end, waiting L{timeout} seconds or C{forever}.

        @raise AdminPortError: if it does not come in time, or the server closed.
        """
        wait = None if forever else self.timeout
        while b"\n" not in self._buffer:
            self.socket.settimeout(wait)
            try:
                chunk = self.socket.recv(65536)
            except TimeoutError:
                raise AdminPortError(
                    f"no reply from the admin port at {self.address} within {wait:g}s"
                ) from None
            except OSError as e:
                raise AdminPortError(f"the admin port at {self.address}: {_reason(e)}") from None
            if not chunk:
                if self._buffer:
                    break
                raise AdminPortError(f"the admin port at {self.address} closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def readReply(self, asJSON: bool, last: str = "ok") -> Reply:
        """The lines of one reply (see L{isLast})."""
        lines = [self.readLine()]
        while not isLast(lines[-1], asJSON, last):
            lines.append(self.readLine())
        return Reply(tuple(lines), asJSON)

    def unsolicited(self) -> tuple[list[str], bool]:
        """
        The whole lines the server sent unasked (say, that it closed an idle
        client), without waiting; and whether it closed the connection.
        """
        closed = False
        while select.select([self.socket], [], [], 0)[0]:
            try:
                chunk = self.socket.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                closed = True
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines], closed

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
