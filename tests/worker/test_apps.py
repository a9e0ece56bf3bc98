"""Tests of L{recycler.worker.apps}: app kinds; a validated WSGI app served in both modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from wsgiref.validate import validator

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from recycler.worker.apps import loadApp, serverFor
from recycler.worker.drain.http import DrainableSite
from recycler.worker.drain.tcp import DrainableFactory
from recycler.worker.errors import AppError
from recycler.worker.wsgi.container import WSGIContainer
from tests import wsgi_app


def wsgiApp(environ: dict, start_response: object) -> list[bytes]:
    start_response("200 OK", [])
    return [b"hi"]


class CallableWSGI:
    """A WSGI app that is an instance, not a function."""

    def __call__(self, environ: dict, start_response: object) -> list[bytes]:
        return wsgiApp(environ, start_response)


class ClassWSGI:
    """A PEP 3333 class app: each request makes an instance, the response iterable."""

    def __init__(self, environ: dict, start_response: Callable) -> None:
        start_response("200 OK", [("Content-Type", "text/plain")])

    def __iter__(self):
        yield b"hi"


class StarArgsWSGI:
    """A middleware-style wrapper: its call takes C{*args}, as C{wsgiref.validate}'s does."""

    def __call__(self, *args: object, **kwargs: object) -> list[bytes]:
        return wsgiApp(*args, **kwargs)


class Echo(Protocol):
    """Sends back what it receives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class EchoFactory(Factory):
    """A plain protocol factory, and a class callable without arguments."""

    protocol = Echo


def returning(made: object) -> Callable[[], object]:
    """A factory that returns C{made}."""
    return lambda: made


class ServerForTests(SynchronousTestCase):
    """L{serverFor} serves each kind of app with the right drainable factory."""

    def test_resource(self) -> None:
        """A twisted.web resource is served by a drainable site."""
        served = serverFor(Resource(), Clock())
        self.assertIsInstance(served.factory, DrainableSite)
        self.assertEqual(served.description, "twisted.web resource")
        self.assertIsNone(served.threadPool)

    def test_wsgi(self) -> None:
        """A callable taking (environ, start_response) is served as WSGI on a sized thread pool."""
        for app in [wsgiApp, CallableWSGI()]:
            served = serverFor(app, Clock(), threads=7)
            self.assertIsInstance(served.factory.resource, WSGIContainer)
            self.assertEqual(served.threadPool.max, 7)
            self.assertEqual(served.description, "WSGI app on 7 threads")

    def test_wsgiInTheReactorThread(self) -> None:
        """With no thread (C{--threads 0}), a WSGI app runs in the reactor thread: no pool."""
        served = serverFor(wsgiApp, Clock(), threads=0)
        self.assertIsInstance(served.factory.resource, WSGIContainer)
        self.assertIsNone(served.threadPool)
        self.assertEqual(served.description, "WSGI app in the reactor thread")

    def test_wsgiTakingStarArgs(self) -> None:
        """
        A callable taking C{*args} is a WSGI app, served as is: it is not
        called as a factory first, although it could be called without arguments.
        """
        for app in [validator(wsgiApp), StarArgsWSGI(), lambda *args: wsgiApp(*args)]:
            served = serverFor(app, Clock())
            self.assertEqual(served.description, "WSGI app on 10 threads")

    def test_wsgiClass(self) -> None:
        """A class taking (environ, start_response) is a WSGI app (PEP 3333), not a factory."""
        served = serverFor(ClassWSGI, Clock())
        self.assertEqual(served.description, "WSGI app on 10 threads")
        self.assertEqual(serve(ClassWSGI, b"GET / HTTP/1.0\r\n\r\n").body, b"hi")

    def test_classesByInterface(self) -> None:
        """
        A class whose instances are resources or protocol factories is a
        factory, even when its constructor takes C{*args}.
        """

        class StarResource(Resource):
            def __init__(self, *args: object) -> None:
                super().__init__()

        class StarFactory(EchoFactory):
            def __init__(self, *args: object) -> None:
                pass

        for app, kind in [(StarResource, DrainableSite), (StarFactory, DrainableFactory)]:
            served = serverFor(app, Clock())
            self.assertIsInstance(served.factory, kind)
            self.assertIn(f" from {app!r}", served.description)

    def test_factoryWithOptionalArguments(self) -> None:
        """
        A callable that can be called without arguments and takes no C{*args}
        is a factory, even when two optional arguments would fit.
        """

        def createApp(config: object = None, debug: object = False) -> object:
            return wsgiApp

        served = serverFor(createApp, Clock())
        self.assertEqual(served.description, f"WSGI app on 10 threads from {createApp!r}")

    def test_protocolFactory(self) -> None:
        """Any protocol factory is served by a drainable wrapping factory."""
        factory = EchoFactory()
        served = serverFor(factory, Clock())
        self.assertIsInstance(served.factory, DrainableFactory)
        self.assertIs(served.factory.wrappedFactory, factory)

    def test_callableReturningAnApp(self) -> None:
        """A callable without arguments (here a class) is called and its result served."""
        for app, kind in [(Resource, DrainableSite), (EchoFactory, DrainableFactory)]:
            self.assertIsInstance(serverFor(app, Clock()).factory, kind)

    def test_unknownKind(self) -> None:
        """Anything else is refused with a message naming the kinds that work."""
        for app in [42, "text", lambda x: x, lambda: 42, lambda: lambda: 1]:
            error = self.assertRaises(AppError, serverFor, app, Clock())
            self.assertIn("not a twisted.web resource, a WSGI app", str(error))

    def test_factoryReturningNoApp(self) -> None:
        """What a factory returns must be served as is: not another factory, not data."""
        for made in [42, EchoFactory, lambda: 1]:
            error = self.assertRaises(AppError, serverFor, returning(made), Clock())
            self.assertIn(
                f"returned {made!r}, which is not a twisted.web resource, a WSGI app, "
                "or a protocol factory",
                str(error),
            )

    def test_factoryCallableRaising(self) -> None:
        """A factory callable that raises gives a clear error."""

        def broken() -> None:
            raise RuntimeError("no database")

        error = self.assertRaises(AppError, serverFor, broken, Clock())
        self.assertIn("raised RuntimeError: no database", str(error))


class LoadAppTests(SynchronousTestCase):
    """L{loadApp} imports C{package.module:name}."""

    def test_loadErrors(self) -> None:
        """Malformed names, import errors and missing attributes are reported in one line."""
        for name, message in [
            ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
            ("recycler.demo:nothing", "'recycler.demo' has no attribute 'nothing'"),
            ("no_such_module_xyz.app", "cannot import 'no_such_module_xyz'"),
            ("recycler", "expected 'package.module:name', got 'recycler'"),
            (":resource", "expected 'package.module:name'"),
        ]:
            error = self.assertRaises(AppError, loadApp, name)
            self.assertIn(message, str(error))
            self.assertNotIn("\n", str(error))

    def test_anImportErrorKeepsItsTraceback(self) -> None:
        """The app's own traceback (file and line) goes with the one-line reason."""
        error = self.assertRaises(AppError, loadApp, "tests.worker.test_apps:nothing.there")
        self.assertIsNone(error.traceback, "a missing attribute is said in one line")
        error = self.assertRaises(AppError, loadApp, "no_such_module_xyz:app")
        assert error.traceback is not None
        self.assertIn("Traceback (most recent call last):", error.traceback)
        self.assertIn("No module named 'no_such_module_xyz'", error.traceback)

    def test_loadDottedAttribute(self) -> None:
        """The attribute part may be dotted."""
        self.assertEqual(loadApp("recycler.demo:resource.body"), b"Request done\n")

    def test_loadDottedForm(self) -> None:
        """Twisted's dotted form: the module is everything up to the last dot."""
        self.assertIs(loadApp("recycler.demo.resource"), loadApp("recycler.demo:resource"))
        self.assertIs(loadApp("tests.wsgi_app.validated"), wsgi_app.validated)


class ThreadlessReactor(Clock):
    """A clock that runs calls from threads at once, for a WSGI app served in this thread."""

    def callFromThread(self, f: Callable, *args: object, **kwargs: object) -> None:
        f(*args, **kwargs)


class Response:
    """One raw HTTP/1.x response: its status line, its header block and its body."""

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.status, _, self.headers = head.partition(b"\r\n")


def serveOn(app: object, request: bytes, threads: int = 10) -> StringTransport:
    """
    Serve one raw request with L{serverFor}'s site, in this thread (its pool,
    if C{threads}, runs calls at once); return the connection's transport.
    """
    served = serverFor(app, ThreadlessReactor(), threads)
    if served.threadPool is not None:
        served.threadPool.callInThread = lambda f, *args, **kwargs: f(*args, **kwargs)
    channel = served.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5))
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(request)
    return transport


def serve(app: object, request: bytes, threads: int = 10) -> Response:
    """Serve one raw request (see L{serveOn}) and parse the answer."""
    return Response(serveOn(app, request, threads).value())


def post(path: bytes, body: bytes, framing: bytes) -> bytes:
    """A POST of C{body}, sent with the given framing header (and a content type)."""
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Content-Type: text/plain\r\n" + framing + b"\r\n\r\n" + body
    )


class ValidatedWSGITests(SynchronousTestCase):
    """
    A C{wsgiref.validate} app served through L{serverFor} (recycler's WSGI
    container, in this thread) never fails the validator: it answers, and
    Twisted logs no error (which trial would report). Here on a thread pool;
    L{ValidatedWSGIInReactorTests}: the same in the reactor thread.
    """

    threads = 10

    def serve(self, request: bytes) -> Response:
        """Serve C{request} with the validated app, in this mode."""
        return serve(wsgi_app.validated, request, self.threads)

    def test_get(self) -> None:
        """A plain GET."""
        response = self.serve(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual((response.status, response.body), (b"HTTP/1.0 200 OK", b"hello\n"))

    def test_head(self) -> None:
        """A HEAD gets the headers of the GET and no body."""
        response = self.serve(b"HEAD / HTTP/1.0\r\n\r\n")
        self.assertEqual((response.status, response.body), (b"HTTP/1.0 200 OK", b""))
        self.assertIn(b"Content-Length: 6", response.headers)

    def test_postWithContentLength(self) -> None:
        """A body sent with Content-Length (and a Content-Type) reaches the app."""
        request = post(b"/echo", b"hello body", b"Content-Length: 10")
        response = self.serve(request)
        self.assertEqual((response.status, response.body), (b"HTTP/1.1 200 OK", b"hello body"))

    def test_chunkedRequestBody(self) -> None:
        """A chunked body reaches an app that reads until the terminated input ends."""
        chunked = b"5\r\nhello\r\n6\r\n chunk\r\n0\r\n\r\n"
        response = self.serve(post(b"/echo", chunked, b"Transfer-Encoding: chunked"))
        self.assertEqual((response.status, response.body), (b"HTTP/1.1 200 OK", b"hello chunk"))

    def test_streamedResponse(self) -> None:
        """A generator's pieces are all sent."""
        response = self.serve(b"GET /stream HTTP/1.0\r\n\r\n")
        self.assertEqual(response.status, b"HTTP/1.0 200 OK")
        self.assertEqual(response.body, b"".join(wsgi_app.STREAMED))

    def test_environ(self) -> None:
        """
        The environ has no HTTP_CONTENT_TYPE or HTTP_CONTENT_LENGTH, and says
        that the app runs in several processes and its input is terminated.
        """
        request = post(b"/environ", b"{}", b"Content-Length: 2")
        environ = json.loads(self.serve(request).body)
        self.assertEqual((environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]), ("text/plain", "2"))
        self.assertNotIn("HTTP_CONTENT_TYPE", environ)
        self.assertNotIn("HTTP_CONTENT_LENGTH", environ)
        self.assertIs(environ["wsgi.multiprocess"], True)
        self.assertIs(environ["wsgi.input_terminated"], True)

    def test_bodyClosed(self) -> None:
        """The response iterable's C{close()} is called."""
        del wsgi_app.CLOSED[:]
        response = self.serve(b"GET /closing HTTP/1.0\r\n\r\n")
        self.assertEqual((response.status, response.body), (b"HTTP/1.0 200 OK", b"closing\n"))
        self.assertEqual(wsgi_app.CLOSED, [True])

    def test_failureBeforeTheBody(self) -> None:
        """An app raising after start_response, before any byte, gets a 500."""
        response = self.serve(b"GET /fail HTTP/1.1\r\nHost: test\r\n\r\n")
        self.assertEqual(response.status, b"HTTP/1.1 500 Internal Server Error")
        self.assertEqual(len(self.flushLoggedErrors(wsgi_app.Failed)), 1)

    def test_failureInTheBody(self) -> None:
        """An app raising once some of its body was sent: the connection is cut."""
        transport = serveOn(
            wsgi_app.validated, b"GET /failLate HTTP/1.1\r\nHost: t\r\n\r\n", self.threads
        )
        self.assertTrue(transport.disconnecting)
        self.assertIn(b"\r\n\r\n", transport.value())
        self.assertFalse(transport.value().endswith(b"0\r\n\r\n"))
        self.assertEqual(len(self.flushLoggedErrors(wsgi_app.Failed)), 1)


class ValidatedWSGIInReactorTests(ValidatedWSGITests):
    """L{ValidatedWSGITests} with C{--threads 0}: the app runs in the reactor thread."""

    threads = 0
