# -*- test-case-name: tests.ctl.test_session -*-
"""The client's conversation with the admin port: the token first, then commands.

L{Session} connects when first needed, sends C{auth} if it has a token (given,
or accepted from an C{auth} command since), keeps
track of the connection's JSON mode (C{json on} changes how every later reply
is framed), streams C{watch} until Ctrl-C, and reconnects after the server
closed the connection (an idle timeout) between two commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from recycler.ctl.client import Connection, Reply, isLast


class Refused(Exception):
    """The admin port refused the token, or what top asks: exit status 1, with its error."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.error)
        self.reply = reply


class Session:
    """
    Commands on one admin connection at a time.

    @ivar jsonMode: Whether the connection answers in JSON (C{json on}).
    """

    def __init__(
        self, connect: Callable[[], Connection], token: str | None, jsonMode: bool = False
    ) -> None:
        """
        @param connect: Opens a new connection (raises L{AdminPortError}).
        @param jsonMode: Turn JSON mode on for the whole session.
        """
        self._connect = connect
        self._token = token
        self._wantJSON = jsonMode
        self.jsonMode = False
        self.connection: Connection | None = None

    def open(self) -> Connection:
        """The connection, made and authenticated if need be; L{Refused} on a bad token."""
        if self.connection is None:
            self.connection = self._connect()
            self.jsonMode = False
            if self._token is not None:
                reply = self.run(["auth", self._token])
                if reply.error is not None:
                    self.close()
                    raise Refused(reply)
            if self._wantJSON:
                self.run(["json", "on"])
        return self.connection

    def resume(self) -> list[str]:
        """
        What the server said unasked since the last reply (it closes idle
        clients, saying so); after it closed, the next command reconnects.
        """
        if self.connection is None:
            return []
        lines, closed = self.connection.unsolicited()
        if closed:
            self.close()
        return lines

    def run(self, words: Sequence[str]) -> Reply:
        """Send the command C{words} and read its reply."""
        connection = self.open()
        name = words[0].lower()
        asJSON = self.jsonMode or "--json" in words[1:]
        connection.send(" ".join(words))
        if name == "json":
            line = connection.readLine()
            reply = Reply((line,), line.startswith("{"))
            if line == "ok" or (reply.asJSON and reply.error is None):
                self.jsonMode = reply.asJSON and bool(reply.data.get("json"))
            return reply
        reply = connection.readReply(asJSON, "bye" if name == "quit" else "ok")
        if name == "quit":
            self.close()
        elif name == "auth" and reply.error is None:
            tokens = [word for word in words[1:] if not word.startswith("--")]
            if len(tokens) == 1:
                self._token = tokens[0]  # a token typed at the prompt: for reconnections too
        return reply

    def watch(self, words: Sequence[str], show: Callable[[str], None]) -> Reply:
        """
        Run C{watch}: C{show} its reply, then each event as it comes, until
        Ctrl-C; then end the watch and return the closing reply.
        """
        reply = self.run(words)
        if reply.error is not None:
            return reply
        for line in reply.shown:
            show(line)
        connection = self.open()
        asJSON = reply.asJSON
        try:
            while True:
                show(connection.readLine(forever=True))
        except KeyboardInterrupt:
            connection.send("")
        while not isLast(line := connection.readLine(), asJSON):
            show(line)
        return Reply((line,), asJSON)

    def close(self) -> None:
        """Close the connection, if open; the next command opens a new one."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def execute(session: Session, words: Sequence[str], out: TextIO, err: TextIO) -> int:
    """
    Run one command and print its reply without the closing C{ok}, an error
    line on C{err}; a JSON reply as it is. 0, or 1 if the reply is an error.
    """

    def show(line: str) -> None:
        print(line, file=out, flush=True)

    if words[0].lower() == "watch":
        reply = session.watch(words, show)
    else:
        reply = session.run(words)
    if reply.error is not None and not reply.asJSON:
        print(reply.lines[-1], file=err)
        return 1
    for line in reply.shown:
        show(line)
    return 0 if reply.error is None else 1
