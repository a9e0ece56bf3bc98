# -*- test-case-name: tests.ctl.test_interactive -*-
"""recyclerctl without a command: a prompt with line editing and history (readline).

The history is kept in C{~/.recyclerctl_history}, without C{auth} lines (a
token typed there is not saved; it is sent again after a reconnection).
Ctrl-D exits, with the status of the last command; Ctrl-C clears the line, or
ends a C{watch}.
Without a terminal (commands piped in) there is no prompt and no history.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from recycler.ctl.client import AdminPortError
from recycler.ctl.session import Session, execute

HISTORY_FILE = "~/.recyclerctl_history"
HISTORY_LENGTH = 1000
PROMPT = "recycler> "


class History:
    """readline's history, read from a file at the start and written back at the end."""

    def __init__(self, readline: Any, path: str) -> None:
        """
        @param readline: The C{readline} module.
        @param path: The history file (C{~} is expanded).
        """
        self.readline = readline
        self.path = os.path.expanduser(path)

    def __enter__(self) -> History:
        self.readline.set_history_length(HISTORY_LENGTH)
        try:
            self.readline.read_history_file(self.path)
        except OSError:
            pass  # none yet, or unreadable: start afresh
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.readline.write_history_file(self.path)
        except OSError:
            pass  # a history is a convenience: never fail over it

    def readLine(self, text: str) -> str:
        """C{input()}, keeping an C{auth} line (a token) out of the history."""
        line = input(text)
        if [word.lower() for word in line.split()[:1]] == ["auth"]:
            length = self.readline.get_current_history_length()
            # input() adds the line only when stdin and stdout are terminals
            if length and self.readline.get_history_item(length) == line:
                self.readline.remove_history_item(length - 1)
        return line


def openHistory(path: str = HISTORY_FILE) -> History | None:
    """The history in C{path}, if readline is there."""
    try:
        import readline
    except ImportError:
        return None
    return History(readline, path)


def prompt(
    session: Session, readLine: Callable[[str], str], prompt: str, out: TextIO, err: TextIO
) -> int:
    """
    Run each command C{readLine} gives, until it raises C{EOFError}.

    @param prompt: What C{readLine} shows first (C{""} without a terminal).
    @return: The exit status of the last command.
    """
    status = 0
    while True:
        try:
            line = readLine(prompt)
        except EOFError:
            if prompt:
                out.write("\n")
            return status
        except KeyboardInterrupt:
            out.write("\n")
            continue
        words = line.split()
        if not words:
            continue
        for notice in session.resume():
            print(notice, file=err)
        try:
            status = execute(session, words, out, err)
        except KeyboardInterrupt:
            session.close()
            print("interrupted (reconnecting for the next command)", file=err)
            status = 130
        except AdminPortError as e:
            session.close()
            print(f"recyclerctl: {e}", file=err)
            status = 3
        if words[0].lower() == "quit":
            return status


def interactive(session: Session, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """The prompt on a terminal, with history; plain lines from a pipe."""
    session.open()
    if not stdin.isatty():
        return prompt(session, lambda _: _readLine(stdin), "", out, err)
    history = openHistory()
    address = session.connection.address if session.connection else "?"
    print(f"connected to {address}; 'help' lists the commands, Ctrl-D exits", file=out)
    if history is None:
        return prompt(session, input, PROMPT, out, err)
    with history:
        return prompt(session, history.readLine, PROMPT, out, err)


def _readLine(stream: TextIO) -> str:
    line = stream.readline()
    if not line:
        raise EOFError
    return line
