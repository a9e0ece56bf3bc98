"""Tests of L{recycler.admin.telnet} and of a real telnet's commands on the admin port."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.telnet import DO, DONT, IAC, IP, SB, SE, TIMING_MARK, WILL, WONT, TelnetFilter
from recycler.master.events import WorkerEvent
from tests.admin.support import AdminTestCase

ECHO, NAWS, AYT, NOP = 1, 31, 246, 241
CTRL_C = b"\x03"


class TelnetFilterTests(SynchronousTestCase):
    """Telnet commands are taken out of the text, and answered when they need it."""

    def setUp(self) -> None:
        self.answers: list[bytes] = []
        self.filter = TelnetFilter(self.answers.append)

    def test_plainTextPassesThrough(self) -> None:
        """Text without IAC comes out as it went in, with nothing answered."""
        self.assertEqual(self.filter.feed(b"list\r\n"), b"list\r\n")
        self.assertEqual(self.answers, [])

    def test_timingMarkIsAnswered(self) -> None:
        """DO TIMING-MARK (what telnet sends after Ctrl-C) is answered WILL TIMING-MARK."""
        self.assertEqual(self.filter.feed(bytes((IAC, DO, TIMING_MARK))), b"")
        self.assertEqual(self.answers, [bytes((IAC, WILL, TIMING_MARK))])

    def test_interruptProcessIsCtrlC(self) -> None:
        """IAC IP becomes the Ctrl-C byte, in its place in the text."""
        self.assertEqual(self.filter.feed(b"li" + bytes((IAC, IP)) + b"st"), b"li" + CTRL_C + b"st")

    def test_otherOptionsAreRefused(self) -> None:
        """DO is answered WONT, WILL is answered DONT; DONT and WONT need no answer."""
        data = bytes((IAC, DO, ECHO, IAC, WILL, NAWS, IAC, DONT, ECHO, IAC, WONT, NAWS))
        self.assertEqual(self.filter.feed(data), b"")
        self.assertEqual(self.answers, [bytes((IAC, WONT, ECHO)), bytes((IAC, DONT, NAWS))])

    def test_subnegotiationAndOtherCommandsAreDropped(self) -> None:
        """IAC SB ... IAC SE (with IAC IAC inside) and IAC NOP, IAC AYT leave no trace."""
        data = bytes((IAC, SB, NAWS, 0, 80, IAC, IAC, 24, IAC, SE, IAC, NOP, IAC, AYT))
        self.assertEqual(self.filter.feed(b"a" + data + b"b"), b"ab")
        self.assertEqual(self.answers, [])

    def test_doubledIACIsOneByteOfText(self) -> None:
        """IAC IAC is the byte 0xFF."""
        self.assertEqual(self.filter.feed(bytes((IAC, IAC)) + b"x"), b"\xffx")

    def test_commandsSplitAcrossChunks(self) -> None:
        """A command cut anywhere between two reads is understood all the same."""
        data = b"a" + bytes((IAC, SB, NAWS, 1, IAC, SE, IAC, DO, TIMING_MARK, IAC, IP)) + b"b"
        text = b"".join(self.filter.feed(data[i : i + 1]) for i in range(len(data)))
        self.assertEqual(text, b"a" + CTRL_C + b"b")
        self.assertEqual(self.answers, [bytes((IAC, WILL, TIMING_MARK))])


INTERRUPT = bytes((IAC, IP, IAC, DO, TIMING_MARK))
"""What telnet sends when the operator presses Ctrl-C."""


class TelnetClientTests(AdminTestCase):
    """A real telnet's commands, as the admin port sees them."""

    def test_ctrlCStopsWatchAndTheNextCommandWorks(self) -> None:
        """
        Ctrl-C in telnet while watching: the timing mark is answered (so telnet
        shows output again), the watch ends, and the next command is answered.
        """
        client = self.client
        client.send("watch")
        client.transport.clear()
        client.protocol.dataReceived(INTERRUPT)
        self.assertEqual(client.transport.value(), bytes((IAC, WILL, TIMING_MARK)) + b"ok\n")
        self.pool.emit(WorkerEvent.READY, workerId=3, pid=1003)
        self.assertEqual(client.send("list")[-1], "ok")
        self.assertEqual(self.pool.events.observers, [])

    def test_ctrlCCancelsThePartialLine(self) -> None:
        """What was typed before Ctrl-C (telnet's IP, or the byte itself) is not run."""
        self.client.protocol.dataReceived(b"kill 3" + INTERRUPT)
        self.client.transport.clear()
        self.assertEqual(self.client.send(b"scale" + CTRL_C + b"reload"), ["ok"])
        self.assertEqual(self.pool.calls, [("reload",)])

    def test_negotiationIsAnsweredAndTheCommandRuns(self) -> None:
        """A client that opens with negotiations gets its refusals, then its reply."""
        self.client.transport.clear()
        opening = bytes((IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE, IAC, DO, ECHO))
        self.client.protocol.dataReceived(opening + b"reload\r\n")
        self.assertEqual(
            self.client.transport.value(),
            bytes((IAC, DONT, NAWS, IAC, WONT, ECHO)) + b"ok\n",
        )
