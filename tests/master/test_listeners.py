"""Tests of the shared listening sockets: real sockets, a memory reactor as the event loop."""

from __future__ import annotations

import os
import socket

from twisted.internet import tcp
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from recycler.master.listeners import SharedListeners, checkDescription, withDefaultBacklog


class RealPortReactor(MemoryReactorClock):
    """
    Binds real C{tcp.Port}s on 127.0.0.1 but runs no event loop: what the
    ports ask to read is recorded in C{getReaders()}, so a test sees whether
    the master would ever accept. (Synchronous, so it runs in any order with
    the end-to-end tests, whose reactor keeps running.)
    """

    def listenTCP(self, port, factory, backlog=50, interface=""):  # type: ignore[override]
        self.tcpServers.append((port, factory, backlog, interface))
        listening = tcp.Port(port, factory, backlog, interface, self)
        listening.startListening()
        return listening


class BacklogTests(SynchronousTestCase):
    """Twisted's backlog of 50 is too short for a pool; 1024 is the default."""

    def test_defaultBacklogIsAdded(self) -> None:
        """A tcp description without a backlog gets 1024; others are left alone."""
        self.assertEqual(withDefaultBacklog("tcp:80"), "tcp:80:backlog=1024")
        self.assertEqual(withDefaultBacklog("tcp:80:backlog=5"), "tcp:80:backlog=5")
        systemd = "systemd:domain=INET:index=0"
        self.assertEqual(withDefaultBacklog(systemd), systemd)

    def test_unixSocketsAreRefused(self) -> None:
        """A UNIX socket cannot be shared: the reason is in the message."""
        error = self.assertRaises(ValueError, checkDescription, MemoryReactorClock(), "unix:/x")
        self.assertIn("unlink", str(error))


class SystemdTests(SynchronousTestCase):
    """A systemd socket that is not there says which part of socket activation is missing."""

    def check(self, description: str, **environ: str) -> str:
        error = self.assertRaises(
            ValueError, checkDescription, MemoryReactorClock(), description, environ
        )
        return str(error)

    def test_notSocketActivated(self) -> None:
        """Without LISTEN_FDS the master was not started by systemd socket activation."""
        message = self.check("systemd:domain=INET:index=0")
        self.assertIn("not started by systemd socket activation", message)
        self.assertIn("LISTEN_FDS", message)

    def test_anotherProcesssSockets(self) -> None:
        """LISTEN_PID naming another process (a wrapper that forked) is named."""
        message = self.check("systemd:domain=INET:index=0", LISTEN_FDS="1", LISTEN_PID="1")
        self.assertIn("LISTEN_PID=1", message)

    def test_noNames(self) -> None:
        """Twisted needs LISTEN_FDNAMES (systemd 227 and later)."""
        pid = str(os.getpid())
        message = self.check("systemd:domain=INET:name=http", LISTEN_FDS="1", LISTEN_PID=pid)
        self.assertIn("LISTEN_FDNAMES", message)

    def test_noSuchSocket(self) -> None:
        """An index or name beyond what systemd passed says what it passed."""
        environ = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid()), "LISTEN_FDNAMES": "http"}
        message = self.check("systemd:domain=INET:index=1", **environ)
        self.assertIn("LISTEN_FDS=1 (LISTEN_FDNAMES=http)", message)


class SharedListenersTests(SynchronousTestCase):
    """The master binds, never accepts, and closes last."""

    def listen(self, *descriptions: str) -> tuple[SharedListeners, RealPortReactor, list]:
        reactor = RealPortReactor()
        listeners = SharedListeners(reactor, list(descriptions))
        ports = self.successResultOf(listeners.listen())
        self.addCleanup(lambda: [port.socket.close() for port in ports if port.connected])
        return listeners, reactor, ports

    def test_boundWithTheBacklogButNeverAccepting(self) -> None:
        """Each socket is bound with backlog 1024 and the master stopped reading it at once."""
        listeners, reactor, ports = self.listen(
            "tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1:backlog=7"
        )
        self.assertEqual([backlog for _, _, backlog, _ in reactor.tcpServers], [1024, 7])
        self.assertEqual(reactor.getReaders(), [])
        self.assertEqual(listeners.filenos(), [port.fileno() for port in ports])

    def test_connectionsWaitForAWorker(self) -> None:
        """A client's connection waits in the backlog, where a worker can accept it."""
        listeners, _, [port] = self.listen("tcp:0:interface=127.0.0.1")
        client = socket.create_connection(("127.0.0.1", port.getHost().port))
        self.addCleanup(client.close)
        worker = socket.socket(fileno=socket.dup(listeners.filenos()[0]))
        self.addCleanup(worker.close)
        worker.settimeout(5)
        accepted, _ = worker.accept()
        accepted.close()

    def test_closeReleasesThePort(self) -> None:
        """After close the port number can be bound again."""
        listeners, reactor, [port] = self.listen("tcp:0:interface=127.0.0.1")
        number = port.getHost().port
        closed = listeners.close()
        reactor.advance(0)
        self.successResultOf(closed)
        self.assertEqual(listeners.filenos(), [])
        again = socket.socket()
        self.addCleanup(again.close)
        again.bind(("127.0.0.1", number))
