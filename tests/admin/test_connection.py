"""Tests of L{recycler.admin.connection}: half-close, flow control, and held answers."""

from __future__ import annotations

from twisted.internet.interfaces import IHalfCloseableProtocol

from recycler.master.events import WorkerEvent
from tests.admin.support import AdminTestCase, Client


def halfClose(client: Client) -> None:
    """Play Twisted's TCP transport when the client shuts its sending side (C{nc -N})."""
    protocol = IHalfCloseableProtocol(client.protocol, None)
    assert protocol is not None, "Twisted would drop the connection, and the unsent replies"
    protocol.readConnectionLost()


class HalfCloseTests(AdminTestCase):
    """C{echo list | nc -N}: every line is answered, then the connection is closed."""

    def test_everyLineIsAnsweredThenTheConnectionCloses(self) -> None:
        """The lines sent before the half-close are answered; then the server closes."""
        client = self.client
        client.protocol.dataReceived(b"reload\nlist\n")
        halfClose(client)
        lines = client.output()
        self.assertEqual((lines[0], lines[-1]), ("ok", "ok"))
        self.assertIn("target 2, 3 live (1 starting, 1 ready, 1 draining)", lines)
        self.assertTrue(client.closed())

    def test_aLastLineWithoutLF(self) -> None:
        """C{printf list | nc -N}: the last line is answered even without its LF."""
        self.client.protocol.dataReceived(b"reload\r\nreload")
        halfClose(self.client)
        self.assertEqual(self.client.output(), ["ok", "ok"])
        self.assertTrue(self.client.closed())

    def test_pendingLinesAreAnsweredOnceTheClientReads(self) -> None:
        """Lines waiting for the client to read its replies are answered, then it closes."""
        client = self.client
        client.protocol.pauseProducing()
        client.protocol.dataReceived(b"reload\nreload\n")
        halfClose(client)
        self.assertEqual(client.output(), [])
        self.assertFalse(client.closed())
        client.protocol.resumeProducing()
        self.assertEqual(client.output(), ["ok", "ok"])
        self.assertTrue(client.closed())

    def test_aWatcherKeepsWatching(self) -> None:
        """C{echo watch | nc -N} streams events until the client disconnects."""
        client = self.client
        client.protocol.dataReceived(b"watch\n")
        halfClose(client)
        self.assertFalse(client.closed())
        self.clock.advance(3600)
        self.pool.emit(WorkerEvent.READY, workerId=3, pid=1003)
        self.assertEqual(
            client.output()[-1], "ready time=2023-11-14T22:13:20.123Z worker=3 pid=1003"
        )
        client.disconnect()
        self.assertEqual(self.pool.events.observers, [])

    def test_nothingSent(self) -> None:
        """A client that half-closes at once is closed at once, with nothing written."""
        halfClose(self.client)
        self.assertEqual(self.client.output(), [])
        self.assertTrue(self.client.closed())
