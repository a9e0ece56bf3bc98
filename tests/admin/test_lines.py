"""Tests of L{recycler.admin.lines}: lines, Ctrl-C and the end of a client's input."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.lines import InputLines, LineTooLong, Mark
from recycler.admin.telnet import DO, IAC, TIMING_MARK, WILL


class InputLinesTests(SynchronousTestCase):
    """The input, one item at a time."""

    def setUp(self) -> None:
        self.answers: list[bytes] = []
        self.input = InputLines(10, self.answers.append)

    def items(self) -> list[bytes | Mark]:
        """Every item available now."""
        taken = []
        while (item := self.input.next()) is not None:
            taken.append(item)
        return taken

    def test_linesWithLFOrCRLF(self) -> None:
        """Lines end at LF; a CR before it is dropped; a partial line waits for its end."""
        self.input.feed(b"one\ntwo\r\nthr")
        self.assertEqual(self.items(), [b"one", b"two"])
        self.assertTrue(self.input.partial)
        self.input.feed(b"ee\n")
        self.assertEqual(self.items(), [b"three"])
        self.assertFalse(self.input.partial)

    def test_ctrlCDropsThePartialLine(self) -> None:
        """Ctrl-C is an item of its own, and what came before it on its line is gone."""
        self.input.feed(b"kill 3\x03list\n")
        self.assertEqual(self.items(), [Mark.INTERRUPT, b"list"])

    def test_telnetCommandsAreAnswered(self) -> None:
        """Telnet's commands are taken out and answered on the way in."""
        self.input.feed(b"li" + bytes((IAC, DO, TIMING_MARK)) + b"st\n")
        self.assertEqual(self.items(), [b"list"])
        self.assertEqual(self.answers, [bytes((IAC, WILL, TIMING_MARK))])

    def test_theLastLineNeedsNoLF(self) -> None:
        """Once the input ended, the text after the last LF is one more line."""
        self.input.feed(b"one\ntwo")
        self.assertEqual(self.items(), [b"one"])
        self.input.end()
        self.assertEqual(self.items(), [b"two"])
        self.assertFalse(self.input.partial)

    def test_nothingAfterTheEnd(self) -> None:
        """An input that ends after an LF has no empty last line."""
        self.input.feed(b"one\n")
        self.input.end()
        self.assertEqual(self.items(), [b"one"])

    def test_tooLong(self) -> None:
        """A line, or the start of one, over the limit raises L{LineTooLong}."""
        self.input.feed(b"0123456789\n")
        self.assertEqual(self.items(), [b"0123456789"])
        self.input.feed(b"0123456789x")
        self.assertRaises(LineTooLong, self.input.next)

    def test_manyLinesAtOnce(self) -> None:
        """A big chunk of lines is split in one pass (no copy per line)."""
        self.input = InputLines(10, self.answers.append)
        self.input.feed(b"\n" * 1_000_000)
        self.assertEqual(len(self.items()), 1_000_000)
