"""Tests of L{recycler.ctl.client}: lines, replies and connection failures."""

from __future__ import annotations

import os
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.client import AdminPortError, Connection, Reply, isLast
from recycler.ctl.endpoint import Address
from tests.ctl.support import ScriptedPort


class ReplyTests(SynchronousTestCase):
    """What a reply means, and what of it is printed."""

    def test_textReply(self) -> None:
        """Data lines are shown without the closing ok; no error."""
        reply = Reply(("ttl 0:5", "ok"))
        self.assertEqual((reply.shown, reply.error), (["ttl 0:5"], None))

    def test_textError(self) -> None:
        """An error line is the error, shown as it is."""
        reply = Reply(("error: worker 9 does not exist",))
        self.assertEqual(reply.error, "worker 9 does not exist")
        self.assertEqual(reply.shown, ["error: worker 9 does not exist"])

    def test_jsonReplies(self) -> None:
        """A JSON reply is shown whole; ok false is an error, with its message."""
        good = Reply(('{"ok":true,"version":1,"target":2}',), asJSON=True)
        self.assertEqual((good.error, good.data["target"]), (None, 2))
        self.assertEqual(good.shown, ['{"ok":true,"version":1,"target":2}'])
        bad = Reply(('{"ok":false,"version":1,"error":"no"}',), asJSON=True)
        self.assertEqual(bad.error, "no")

    def test_notJSON(self) -> None:
        """A JSON reply that is not an object is a protocol failure, not a crash."""
        self.assertRaises(AdminPortError, lambda: Reply(("ok",), asJSON=True).data)

    def test_isLast(self) -> None:
        """Text ends at ok or error; JSON at an object with ok (events have none)."""
        self.assertTrue(isLast("ok", False))
        self.assertTrue(isLast("error: x", False))
        self.assertFalse(isLast("bye", False))
        self.assertTrue(isLast("bye", False, last="bye"))
        self.assertFalse(isLast('{"version":1,"event":"ready","reason":"ok"}', True))
        self.assertTrue(isLast('{"ok":true,"version":1}', True))
        self.assertFalse(isLast("[1]", True))


class ConnectionTests(SynchronousTestCase):
    """Lines from a socket, with deadlines."""

    def setUp(self) -> None:
        self.port = ScriptedPort(timeout=0.2)
        self.addCleanup(self.port.close)

    def test_readReplyAcrossChunks(self) -> None:
        """A reply split anywhere is read whole, CRLF or LF; what follows stays for later."""
        connection = self.port.connect()
        self.port.server.sendall(b"target 1\r\nID ")
        self.port.server.sendall(b"PID\nok\nttl 0:5\nok\n")
        self.assertEqual(connection.readReply(False).lines, ("target 1", "ID PID", "ok"))
        self.assertEqual(connection.readReply(False).lines, ("ttl 0:5", "ok"))

    def test_send(self) -> None:
        """A line goes out with its LF."""
        connection = self.port.connect()
        connection.send("kill 3 --now")
        self.assertEqual(self.port.received(), b"kill 3 --now\n")

    def test_lastLineWithoutLF(self) -> None:
        """At the end of the stream, a last line without LF is still a line."""
        connection = self.port.connect()
        self.port.server.sendall(b"bye")
        self.port.server.shutdown(socket.SHUT_WR)
        self.assertEqual(connection.readLine(), "bye")
        with self.assertRaises(AdminPortError) as raised:
            connection.readLine()
        self.assertIn("closed the connection", str(raised.exception))

    def test_noReplyInTime(self) -> None:
        """A server that says nothing within the timeout is given up on, saying so."""
        connection = self.port.connect()
        with self.assertRaises(AdminPortError) as raised:
            connection.readLine()
        self.assertIn(
            "no reply from the admin port at 127.0.0.1:10081 within 0.2s", str(raised.exception)
        )

    def test_unsolicited(self) -> None:
        """Lines sent unasked are taken without waiting; a close is noticed."""
        connection = self.port.connect()
        self.assertEqual(connection.unsolicited(), ([], False))
        self.port.server.sendall(b"error: idle for 300s, closing\n")
        self.port.server.close()
        self.assertEqual(connection.unsolicited(), (["error: idle for 300s, closing"], True))


class OpenTests(SynchronousTestCase):
    """Connection failures say where and why, as one line."""

    def test_refused(self) -> None:
        """Nobody listening: connection refused, and a hint."""
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
            with self.assertRaises(AdminPortError) as raised:
                Connection.open(Address("127.0.0.1", port), 1)
        message = str(raised.exception)
        self.assertIn(f"cannot connect to the admin port at 127.0.0.1:{port}: ", message)
        self.assertIn("is the server running?", message)

    def test_unixSocket(self) -> None:
        """A unix socket that is there is connected to; a missing one is named."""
        directory = tempfile.mkdtemp()
        path = os.path.join(directory, "admin.sock")
        with self.assertRaises(AdminPortError) as raised:
            Connection.open(Address(path=path), 1)
        self.assertIn(f"unix:{path}: No such file or directory", str(raised.exception))
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
            server.listen()
            connection = Connection.open(Address(path=path), 1)
            accepted, _ = server.accept()
            connection.send("list")
            self.assertEqual(accepted.recv(100), b"list\n")
            accepted.close()
            connection.close()
        os.unlink(path)
        os.rmdir(directory)
