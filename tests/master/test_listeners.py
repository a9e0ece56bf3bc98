"""Tests of the shared listening sockets, bound on the real reactor on 127.0.0.1."""

from __future__ import annotations

import socket

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from recycler.master.listeners import SharedListeners, checkDescription, withDefaultBacklog


class BacklogTests(SynchronousTestCase):
    """Twisted's backlog of 50 is too short for a pool; 1024 is the default."""

    def test_defaultBacklogIsAdded(self) -> None:
        """A tcp description without a backlog gets 1024; others are left alone."""
        self.assertEqual(withDefaultBacklog("tcp:80"), "tcp:80:backlog=1024")
        self.assertEqual(withDefaultBacklog("tcp:80:backlog=5"), "tcp:80:backlog=5")
        self.assertEqual(withDefaultBacklog("systemd:domain=INET:index=0"),
                         "systemd:domain=INET:index=0")  # fmt: skip

    def test_unixSocketsAreRefused(self) -> None:
        """A UNIX socket cannot be shared: the reason is in the message."""
        error = self.assertRaises(ValueError, checkDescription, reactor, "unix:/tmp/x")
        self.assertIn("unlink", str(error))


class SharedListenersTests(TestCase):
    """The master binds, never accepts, and closes last."""

    @inlineCallbacks
    def test_boundButNeverAccepting(self) -> None:
        """Connections wait in the backlog: the master stopped reading at once."""
        listeners = SharedListeners(reactor, ["tcp:0:interface=127.0.0.1"])
        [port] = yield listeners.listen()
        self.addCleanup(listeners.close)
        [fd] = listeners.filenos()
        self.assertEqual(fd, port.fileno())
        client = socket.create_connection(("127.0.0.1", port.getHost().port))
        self.addCleanup(client.close)
        yield deferLater(reactor, 0.05)  # the reactor runs: it would accept now if it read
        shared = socket.socket(fileno=socket.dup(fd))
        self.addCleanup(shared.close)
        shared.settimeout(1)
        accepted, _ = shared.accept()  # still queued for a worker to take
        accepted.close()

    @inlineCallbacks
    def test_closeReleasesThePort(self) -> None:
        """After close the port can be bound again."""
        listeners = SharedListeners(reactor, ["tcp:0:interface=127.0.0.1"])
        [port] = yield listeners.listen()
        number = port.getHost().port
        yield listeners.close()
        self.assertEqual(listeners.filenos(), [])
        again = socket.socket()
        self.addCleanup(again.close)
        again.bind(("127.0.0.1", number))
