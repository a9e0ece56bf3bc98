"""Tests of L{recycler.ctl.interactive}: the prompt, its history, Ctrl-C and Ctrl-D."""

from __future__ import annotations

import builtins
import io
import os
import tempfile
from collections.abc import Callable

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.interactive import HISTORY_LENGTH, History, interactive, prompt
from tests.ctl.support import SessionTestCase


def typing(*lines: str | type[BaseException]) -> Callable[[str], str]:
    """A readLine that returns C{lines}, raising those that are exceptions, then EOF."""
    pending = list(lines)
    prompts: list[str] = []

    def readLine(text: str) -> str:
        prompts.append(text)
        if not pending:
            raise EOFError()
        line = pending.pop(0)
        if isinstance(line, type):
            raise line()
        return line

    readLine.prompts = prompts  # type: ignore[attr-defined]
    return readLine


class FakeReadline:
    """The history functions of C{readline}, recorded; reading fails with C{readError}."""

    def __init__(self, readError: OSError | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.readError = readError
        self.lines: list[str] = []

    def set_history_length(self, length: int) -> None:
        self.calls.append(("length", length))

    def read_history_file(self, path: str) -> None:
        self.calls.append(("read", path))
        if self.readError is not None:
            raise self.readError

    def write_history_file(self, path: str) -> None:
        self.calls.append(("write", path))
        raise PermissionError(13, "Permission denied")

    def get_current_history_length(self) -> int:
        return len(self.lines)

    def get_history_item(self, index: int) -> str:
        return self.lines[index - 1]

    def remove_history_item(self, index: int) -> None:
        del self.lines[index]


class PromptTests(SessionTestCase):
    """Commands typed one after another."""

    def test_commandsUntilCtrlD(self) -> None:
        """Each line runs; blank lines and Ctrl-C are skipped; Ctrl-D ends with the last status."""
        self.port.script("ttl 0:5\nok\n", "error: worker 9 does not exist\n")
        readLine = typing("ttl", "  ", KeyboardInterrupt, "kill 9")
        self.assertEqual(prompt(self.session, readLine, "> ", self.out, self.err), 1)
        self.assertEqual(self.out.getvalue(), "ttl 0:5\n\n\n")
        self.assertEqual(self.err.getvalue(), "error: worker 9 does not exist\n")
        self.assertEqual(readLine.prompts, ["> "] * 5)  # type: ignore[attr-defined]
        self.assertEqual(self.port.received(), b"ttl\nkill 9\n")

    def test_quit(self) -> None:
        """quit ends the prompt; what follows is not read."""
        self.port.script("bye\n")
        readLine = typing("quit", "list")
        self.assertEqual(prompt(self.session, readLine, "", self.out, self.err), 0)
        self.assertEqual(self.out.getvalue(), "")
        self.assertEqual(readLine.prompts, [""])  # type: ignore[attr-defined]

    def test_connectionLostThenBack(self) -> None:
        """The server going away is reported; the next command reconnects."""
        self.port.script(None, "ttl 0:5\nok\n")
        status = prompt(self.session, typing("ttl", "ttl"), "", self.out, self.err)
        self.assertIn("closed the connection", self.err.getvalue())
        self.assertEqual((status, self.out.getvalue()), (0, "ttl 0:5\n"))

    def test_noticesFromTheServer(self) -> None:
        """Lines the server sent unasked between commands are shown before the next reply."""
        self.session.open()
        self.port.server.sendall(b"error: idle for 300s, closing\n")
        self.port.server.close()
        self.port.script("ttl 0:5\nok\n")
        prompt(self.session, typing("ttl"), "", self.out, self.err)
        self.assertEqual(self.err.getvalue(), "error: idle for 300s, closing\n")
        self.assertEqual(self.out.getvalue(), "ttl 0:5\n")

    def test_withoutATerminal(self) -> None:
        """Lines piped in run without a prompt."""
        self.port.script("ttl 0:5\nok\n", "ttl 1:2\nok\n")
        status = interactive(self.session, io.StringIO("ttl\nttl 1:2\n"), self.out, self.err)
        self.assertEqual((status, self.out.getvalue()), (0, "ttl 0:5\nttl 1:2\n"))


class HistoryTests(SynchronousTestCase):
    """The history file, read at the start and written at the end."""

    def test_readAndWritten(self) -> None:
        """The file is read then written, ~ expanded; a missing or unwritable one is no error."""
        home = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, home)
        self.patch(os, "environ", {**os.environ, "HOME": home})
        readline = FakeReadline(readError=FileNotFoundError(2, "No such file"))
        with History(readline, "~/.recyclerctl_history"):
            pass
        path = os.path.join(home, ".recyclerctl_history")
        self.assertEqual(
            readline.calls, [("length", HISTORY_LENGTH), ("read", path), ("write", path)]
        )

    def test_noTokenKept(self) -> None:
        """An C{auth} line typed at the prompt (any case) leaves the history; others stay."""
        readline = FakeReadline()
        typed = iter(["list", "AUTH s3cret", "  auth other", "ttl"])

        def fakeInput(text: str) -> str:
            readline.lines.append(next(typed))  # as readline's input() does
            return readline.lines[-1]

        self.patch(builtins, "input", fakeInput)
        history = History(readline, "unused")
        self.assertEqual([history.readLine("> ") for _ in range(4)][1], "AUTH s3cret")
        self.assertEqual(readline.lines, ["list", "ttl"])

    def test_noTerminalNoRemoval(self) -> None:
        """When input() added nothing (stdout not a terminal), no other entry is removed."""
        readline = FakeReadline()
        readline.lines = ["old1", "old2"]
        self.patch(builtins, "input", lambda text: "auth s3cret")
        History(readline, "unused").readLine("> ")
        self.assertEqual(readline.lines, ["old1", "old2"])
