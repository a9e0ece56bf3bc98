"""Tests of L{recycler.worker.link}: the command pipe in, the event pipe out."""

from __future__ import annotations

import json
import os

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.worker.link import MasterLink, sendEvent


class FakeWorker:
    """Records what the link asks of the worker."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self) -> None:
        self.calls.append("stop")

    def masterGone(self) -> None:
        self.calls.append("masterGone")


class MasterLinkTests(SynchronousTestCase):
    """L{MasterLink} turns the master's lines, and its EOF, into calls on the worker."""

    def setUp(self) -> None:
        self.worker = FakeWorker()
        self.link = MasterLink(self.worker)
        self.link.makeConnection(StringTransport())

    def test_drainStopsTheWorker(self) -> None:
        """A C{drain} command stops the worker, also when split over several reads."""
        line = wire.encode(wire.Command.DRAIN)
        self.link.dataReceived(line[:5])
        self.assertEqual(self.worker.calls, [])
        self.link.dataReceived(line[5:])
        self.assertEqual(self.worker.calls, ["stop"])

    def test_malformedLineIsIgnored(self) -> None:
        """A line that is not a control message is logged and ignored; the next one works."""
        with capturedLogs() as events:
            self.link.dataReceived(b"not json\n[1, 2]\n\xff\n")
        self.assertEqual(self.worker.calls, [])
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual([e["line"] for e in warnings], [b"not json", b"[1, 2]", b"\xff"])
        self.link.dataReceived(wire.encode(wire.Command.DRAIN))
        self.assertEqual(self.worker.calls, ["stop"])

    def test_unknownCommandIsIgnored(self) -> None:
        """A well-formed command of an unknown kind does nothing."""
        self.link.dataReceived(b'{"kind":"dance"}\n')
        self.assertEqual(self.worker.calls, [])

    def test_reopenReopensTheAccessLog(self) -> None:
        """A C{reopen} command reopens the access log; a worker without one ignores it."""
        self.link.dataReceived(wire.encode(wire.Command.REOPEN))
        reopened: list[bool] = []
        link = MasterLink(self.worker, lambda: reopened.append(True))
        link.makeConnection(StringTransport())
        link.dataReceived(wire.encode(wire.Command.REOPEN) * 2)
        self.assertEqual((reopened, self.worker.calls), ([True, True], []))

    def test_eofMeansTheMasterIsGone(self) -> None:
        """When the pipe closes, the worker is told the master is gone."""
        self.link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.worker.calls, ["masterGone"])


class SendEventTests(SynchronousTestCase):
    """L{sendEvent} writes one line per event to the event fd."""

    def eventPipe(self) -> int:
        """Make a pipe's write end the event fd; return its read end."""
        readEnd, writeEnd = os.pipe()
        self.addCleanup(os.close, writeEnd)
        self.patch(wire, "EVENT_FD", writeEnd)
        return readEnd

    def test_writesOneLine(self) -> None:
        """An event is one JSON line the master can decode."""
        readEnd = self.eventPipe()
        self.addCleanup(os.close, readEnd)
        self.assertTrue(sendEvent(wire.Event.STATUS, served=3, inFlight=1))
        data = os.read(readEnd, 4096)
        self.assertEqual(data.count(b"\n"), 1)
        self.assertEqual(json.loads(data), {"kind": "status", "served": 3, "inFlight": 1})

    def test_goneMasterIsNotAnError(self) -> None:
        """If the master closed its end, the event is dropped and C{False} returned."""
        os.close(self.eventPipe())
        self.assertFalse(sendEvent(wire.Event.READY, pid=1))
