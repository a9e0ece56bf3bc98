"""Tests of L{recycler.worker.wsgi.environ}: a request's environ, C{start_response}'s checks."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from recycler.worker.drain.http import DrainableSite
from recycler.worker.wsgi.container import WSGIContainer
from recycler.worker.wsgi.environ import ERRORS, checkedResponse

SERVER = IPv4Address("TCP", "10.0.0.1", 8080)
CLIENT = IPv4Address("TCP", "192.0.2.7", 40000)


@implementer(ISSLTransport)
class SecureTransport(StringTransport):
    """A TLS connection's transport, as far as twisted.web and the environ can tell."""

    def setTcpNoDelay(self, enabled: bool) -> None:
        """twisted.web asks TCP transports for no delay."""


def environOf(request: bytes, secure: bool = False, client: Any = CLIENT) -> dict[str, Any]:
    """The environ an app sees for the raw C{request}, over a connection C{client} -> L{SERVER}."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], startResponse: Callable) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read())
        startResponse("200 OK", [])
        return []

    site = DrainableSite(WSGIContainer(Clock(), None, app), reactor=Clock())
    channel = site.buildProtocol(client)
    transportType = SecureTransport if secure else StringTransport
    transport = transportType(hostAddress=SERVER, peerAddress=client)
    channel.makeConnection(transport)
    channel.dataReceived(request)
    assert transport.value().startswith(b"HTTP/1.1 200 OK"), transport.value()
    return seen


class EnvironTests(SynchronousTestCase):
    """The CGI and C{wsgi.*} keys of a request's environ (PEP 3333)."""

    def test_cgiKeys(self) -> None:
        """Method, path (unquoted), query (as sent), server and client addresses, protocol."""
        environ = environOf(b"GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example.com:81\r\n\r\n")
        expected = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/a b/c",
            "QUERY_STRING": "x=1&y=%20",
            "SERVER_NAME": "example.com",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "192.0.2.7",
            "REMOTE_PORT": "40000",
            "CONTENT_TYPE": "",
            "CONTENT_LENGTH": "",
            "HTTP_HOST": "example.com:81",
        }
        self.assertEqual({k: environ[k] for k in expected}, expected)

    def test_serverName(self) -> None:
        """From the Host header (an IPv6 one without its brackets), else the listening address."""
        cases = {
            b"Host: [::1]:8080\r\n": "::1",
            b"Host: [::1]\r\n": "::1",
            b"Host: example.com\r\n": "example.com",
            b"": "10.0.0.1",
        }
        for header, name in cases.items():
            environ = environOf(b"GET / HTTP/1.1\r\n" + header + b"\r\n")
            self.assertEqual(environ["SERVER_NAME"], name, header)

    def test_ipv6Client(self) -> None:
        """An IPv6 client's address and port."""
        client = IPv6Address("TCP", "::1", 5000)
        environ = environOf(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", client=client)
        self.assertEqual((environ["REMOTE_ADDR"], environ["REMOTE_PORT"]), ("::1", "5000"))

    def test_headers(self) -> None:
        """
        Each header becomes an C{HTTP_*} key (repeated ones joined with a comma),
        except Content-Type and Content-Length, which are only C{CONTENT_*}.
        """
        environ = environOf(
            b"POST / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a\r\nX-Forwarded-For: b\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc"
        )
        self.assertEqual(environ["HTTP_X_FORWARDED_FOR"], "a,b")
        self.assertEqual((environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]), ("text/plain", "3"))
        self.assertNotIn("HTTP_CONTENT_TYPE", environ)
        self.assertNotIn("HTTP_CONTENT_LENGTH", environ)
        self.assertEqual(environ["body"], b"abc")

    def test_latin1(self) -> None:
        """Bytes beyond ASCII reach the app as latin-1 strings (PEP 3333)."""
        environ = environOf(b"GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\nX-Name: \xe9\r\n\r\n")
        self.assertEqual(environ["PATH_INFO"], "/caf\xc3\xa9")
        self.assertEqual(environ["HTTP_X_NAME"], "\xe9")

    def test_wsgiKeys(self) -> None:
        """The C{wsgi.*} keys; C{https} when the transport is TLS."""
        environ = environOf(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(environ["wsgi.version"], (1, 0))
        self.assertEqual(environ["wsgi.url_scheme"], "http")
        self.assertEqual(
            [environ[k] for k in ["wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"]],
            [False, True, False],
        )
        self.assertIs(environ["wsgi.input_terminated"], True)
        self.assertIs(environ["wsgi.errors"], ERRORS)
        secure = environOf(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", secure=True)
        self.assertEqual(secure["wsgi.url_scheme"], "https")


class ErrorStreamTests(SynchronousTestCase):
    """C{wsgi.errors} logs what the app writes."""

    def test_write(self) -> None:
        """write and writelines each log one error event of system C{wsgi}; braces are text."""
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        ERRORS.write("bad {thing}\n")
        ERRORS.writelines(["a\n", "b\n"])
        ERRORS.flush()
        self.assertEqual([e["text"] for e in events], ["bad {thing}", "a\nb"])
        levels = {(e["log_level"], e["system"]) for e in events}
        self.assertEqual(levels, {(LogLevel.error, "wsgi")})

    def test_bytes(self) -> None:
        """Bytes are refused (PEP 3333: text)."""
        self.assertRaises(TypeError, ERRORS.write, b"bytes")


class CheckedResponseTests(SynchronousTestCase):
    """What C{start_response} accepts, and what it gives the request."""

    def test_encoded(self) -> None:
        """The code, the reason and the headers, in bytes; Server and Date are the server's."""
        headers = [("Content-Type", "text/plain"), ("Server", "app"), ("date", "x"), ("X", "\xe9")]
        self.assertEqual(
            checkedResponse("404 Not Found", headers),
            (404, b"Not Found", [(b"Content-Type", b"text/plain"), (b"X", b"\xe9")]),
        )

    def test_hopByHopDropped(self) -> None:
        """Hop-by-hop headers are the server's to send (PEP 3333): left out, as gunicorn does."""
        headers = [("Connection", "close"), ("Transfer-Encoding", "chunked"), ("X", "y")]
        self.assertEqual(checkedResponse("200 OK", headers)[2], [(b"X", b"y")])

    def test_tuples(self) -> None:
        """A tuple of headers, or a header as a list, is taken (as gunicorn does)."""
        self.assertEqual(checkedResponse("200 OK", (["A", "b"],))[2], [(b"A", b"b")])

    def test_refused(self) -> None:
        """Each kind of bad status or header is refused with what was wrong."""
        cases: list[tuple[object, object, type[Exception], str]] = [
            (b"200 OK", [], TypeError, "status must be str"),
            ("OK", [], ValueError, "3-digit code"),
            ("2000 OK", [], ValueError, "3-digit code"),
            ("200 OK", {"A": "b"}, TypeError, "headers must be a list"),
            ("200 OK", ["A: b"], TypeError, "(str, str) tuple"),
            ("200 OK", [("A", "b", "c")], TypeError, "(str, str) tuple"),
            ("200 OK", [(b"A", "b")], TypeError, "(str, str) tuple"),
            ("200 OK", [("A", 1)], TypeError, "(str, str) tuple"),
            ("200 OK", [("A", "\u20ac")], ValueError, "latin-1"),
            ("200 OK\r\nSet-Cookie: a=1", [], ValueError, "one line"),
        ]
        for status, headers, error, message in cases:
            with self.assertRaises(error) as raised:
                checkedResponse(status, headers)
            self.assertIn(message, str(raised.exception), (status, headers))


class InputTests(SynchronousTestCase):
    """C{wsgi.input} is the body Twisted received, at its start."""

    def test_smallBodyInMemory(self) -> None:
        """A small body is read from memory."""
        seen: list[object] = []

        def app(environ: dict[str, Any], startResponse: Callable) -> list[bytes]:
            seen.append(environ["wsgi.input"])
            startResponse("200 OK", [])
            return []

        site = DrainableSite(WSGIContainer(Clock(), None, app), reactor=Clock())
        channel = site.buildProtocol(CLIENT)
        channel.makeConnection(StringTransport())
        channel.dataReceived(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
        self.assertIsInstance(seen[0], io.BytesIO)
