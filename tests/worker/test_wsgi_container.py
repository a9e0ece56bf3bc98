"""Tests of L{recycler.worker.wsgi.container}: hand-overs to the reactor, back-pressure, bodies."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterable, Iterator

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler.worker.drain.http import DrainableSite
from recycler.worker.wsgi.container import IN_FLIGHT, SMALL, WSGIContainer

GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
WAIT = 5.0  # seconds a test waits for its app thread, at most


class QueuedReactor(Clock):
    """A clock that queues calls from threads, for the test to run with L{runQueued}."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: list[Callable[[], object]] = []
        self.lock = threading.Lock()

    def callFromThread(self, f: Callable, *args: object, **kwargs: object) -> None:
        with self.lock:
            self.queued.append(lambda: f(*args, **kwargs))

    def runQueued(self) -> int:
        """Run what is queued; return how many calls ran."""
        with self.lock:
            calls, self.queued = self.queued, []
        for call in calls:
            call()
        return len(calls)


class Pool:
    """A thread pool stand-in: each call runs at once, or in a new thread if C{threaded}."""

    def __init__(self, threaded: bool = False) -> None:
        self.threads: list[threading.Thread] = []
        self.threaded = threaded

    def callInThread(self, f: Callable, *args: object) -> None:
        if not self.threaded:
            f(*args)
            return
        thread = threading.Thread(target=f, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()


def answering(body: Callable[[], Iterable[bytes]], headers: list | None = None) -> Callable:
    """A WSGI app answering 200 with what C{body()} returns."""

    def app(environ: dict, startResponse: Callable) -> Iterable[bytes]:
        startResponse("200 OK", headers or [("Content-Type", "text/plain")])
        return body()

    return app


def connect(app: Callable, reactor: Clock, pool: Pool | None) -> tuple:
    """A connection to a site serving C{app}: its channel and transport."""
    site = DrainableSite(WSGIContainer(reactor, pool, app), reactor=reactor)
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def servedInBothModes(app: Callable, request: bytes = GET) -> list[StringTransport]:
    """The connections that answered C{request} with C{app}: in the reactor thread, on a pool."""
    transports = []
    for pool in [None, Pool()]:
        reactor = QueuedReactor()
        channel, transport = connect(app, reactor, pool)
        channel.dataReceived(request)
        reactor.runQueued()
        transports.append(transport)
    return transports


def pieces(count: int, size: int = 10) -> Iterator[bytes]:
    """A generator body of C{count} pieces."""
    for i in range(count):
        yield b"%d" % i * size


class HandOverTests(SynchronousTestCase):
    """What a thread hands to the reactor, and how often."""

    def test_smallListInOneCall(self) -> None:
        """
        A small list body reaches the reactor in one call, with its headers,
        and goes out with a Content-Length (not chunked).
        """
        reactor = QueuedReactor()
        channel, transport = connect(answering(lambda: [b"a", b"b"]), reactor, Pool())
        channel.dataReceived(GET)
        self.assertEqual(reactor.runQueued(), 1)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))
        self.assertIn(b"\r\nContent-Length: 2\r\n", transport.value())
        self.assertTrue(transport.value().endswith(b"\r\n\r\nab"))

    def test_generatorStreamed(self) -> None:
        """A generator body is streamed: a call per piece, and one to finish."""
        reactor = QueuedReactor()
        channel, transport = connect(answering(lambda: pieces(3)), reactor, Pool())
        channel.dataReceived(GET)
        self.assertEqual(reactor.runQueued(), 4)
        self.assertIn(b"1111111111", transport.value())
        self.assertTrue(transport.value().endswith(b"0\r\n\r\n"))

    def test_largeListStreamed(self) -> None:
        """A list body larger than SMALL is streamed, piece by piece."""
        reactor = QueuedReactor()
        body = [b"x" * SMALL, b"y"]
        channel, transport = connect(answering(lambda: body), reactor, Pool())
        channel.dataReceived(GET)
        self.assertEqual(reactor.runQueued(), 3)
        self.assertIn(b"x" * SMALL, transport.value())

    def test_multithreadFlag(self) -> None:
        """C{wsgi.multithread} says whether the app runs in a pool."""
        seen = []

        def app(environ: dict, startResponse: Callable) -> list[bytes]:
            seen.append(environ["wsgi.multithread"])
            startResponse("200 OK", [])
            return []

        servedInBothModes(app)
        self.assertEqual(seen, [False, True])

    def test_noStartResponse(self) -> None:
        """An app that never calls start_response gets a 500, in both modes."""
        for transport in servedInBothModes(lambda environ, start: []):
            self.assertTrue(transport.value().startswith(b"HTTP/1.1 500 "))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class BackPressureTests(SynchronousTestCase):
    """A streaming thread waits for the reactor: bounded chunks in flight, and pauses."""

    def setUp(self) -> None:
        self.reactor = QueuedReactor()
        self.pool = Pool(threaded=True)
        self.channel, self.transport = connect(
            answering(lambda: pieces(IN_FLIGHT * 3)), self.reactor, self.pool
        )
        self.channel.dataReceived(GET)

    def waitForQueued(self, count: int) -> None:
        """Wait until C{count} calls are queued, then a moment to see no more come."""
        done = threading.Event()
        for _ in range(int(WAIT / 0.01)):
            if len(self.reactor.queued) >= count or done.wait(0.01):
                break
        done.wait(0.05)
        self.assertEqual(len(self.reactor.queued), count)

    def finish(self) -> None:
        """Run the queue until the thread is done; it must be, within L{WAIT}."""
        for _ in range(int(WAIT / 0.01)):
            self.reactor.runQueued()
            self.pool.threads[0].join(0.01)
            if not self.pool.threads[0].is_alive():
                break
        self.reactor.runQueued()
        self.assertFalse(self.pool.threads[0].is_alive())

    def test_boundedInFlight(self) -> None:
        """At most IN_FLIGHT pieces wait for the reactor; the rest wait in the thread."""
        self.waitForQueued(IN_FLIGHT)
        self.finish()
        self.assertTrue(self.transport.value().endswith(b"0\r\n\r\n"))

    def pause(self) -> None:
        """
        Pause the transport once pieces are flowing, and run what the thread
        handed over before it saw the pause (one piece at most).
        """
        self.waitForQueued(IN_FLIGHT)
        self.reactor.runQueued()
        self.channel.pauseProducing()
        self.reactor.runQueued()
        threading.Event().wait(0.05)
        self.assertLessEqual(self.reactor.runQueued(), 1)

    def test_pausedTransport(self) -> None:
        """While the transport is paused, the thread hands nothing over."""
        self.pause()
        self.waitForQueued(0)
        self.channel.resumeProducing()
        self.finish()
        self.assertTrue(self.transport.value().endswith(b"0\r\n\r\n"))

    def test_connectionLostWhilePaused(self) -> None:
        """A thread waiting on a paused transport ends when the connection is lost."""
        self.pause()
        self.channel.connectionLost(Failure(ConnectionLost()))
        self.finish()


class RequestBodyTests(SynchronousTestCase):
    """C{wsgi.input} over a large body, which twisted.web spooled to a temporary file."""

    def test_largeBody(self) -> None:
        """read(n), readline, readlines and iteration all see the whole body."""
        lines = [b"line %06d\n" % i for i in range(20000)]  # 240 KB
        seen: dict[str, object] = {}

        def app(environ: dict, startResponse: Callable) -> list[bytes]:
            stream = environ["wsgi.input"]
            seen["spooled"] = not isinstance(stream, io.BytesIO)
            seen["first"] = stream.read(5)
            seen["rest of line"] = stream.readline()
            seen["two"] = [stream.readline(), next(iter(stream))]
            seen["rest"] = stream.readlines()
            startResponse("200 OK", [("Content-Length", "0")])
            return []

        body = b"".join(lines)
        for pool in [None, Pool()]:
            reactor = QueuedReactor()
            channel, transport = connect(app, reactor, pool)
            request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
            channel.dataReceived(request + body)
            reactor.runQueued()
            self.assertIs(seen["spooled"], True)
            self.assertEqual(seen["first"] + seen["rest of line"], lines[0])
            self.assertEqual(seen["two"], lines[1:3])
            self.assertEqual(seen["rest"], lines[3:])
            self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))


class Pausing:
    """
    A body of five pieces, the first two more than L{SMALL} together (so the
    response is streamed), that pauses C{channel} (as a full transport would)
    when asked for the third, which is still written.
    """

    def __init__(self) -> None:
        self.channel: object = None
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for i in range(5):
            yield b"piece%d;" % i + b"." * (SMALL // 2)
            if i == 1:
                self.channel.pauseProducing()

    def close(self) -> None:
        self.closed = True


class InReactorStreamingTests(SynchronousTestCase):
    """In the reactor thread, a paused transport stops the iteration of the body."""

    def setUp(self) -> None:
        self.body = Pausing()
        self.channel, self.transport = connect(answering(lambda: self.body), Clock(), None)
        self.body.channel = self.channel
        self.channel.dataReceived(GET)

    def test_pauseAndResume(self) -> None:
        """No piece is asked for while paused; all are sent, and close() called, once resumed."""
        self.assertIn(b"piece2;", self.transport.value())
        self.assertNotIn(b"piece3;", self.transport.value())
        self.assertFalse(self.body.closed)
        self.channel.resumeProducing()
        self.assertIn(b"piece4;", self.transport.value())
        self.assertTrue(self.transport.value().endswith(b"0\r\n\r\n"))
        self.assertTrue(self.body.closed)

    def test_connectionLostWhilePaused(self) -> None:
        """A body left paused by a lost connection is closed."""
        self.channel.connectionLost(Failure(ConnectionLost()))
        self.assertTrue(self.body.closed)


class WholeBodyTests(SynchronousTestCase):
    """
    A body known whole (a plain list or tuple, or one that yields nothing) goes
    out in one write, with a Content-Length when the app gave none; in both modes.
    """

    def serve(self, app: Callable, request: bytes = GET) -> bytes:
        """What C{app} answers to C{request}, on a pool and in the reactor thread: the same."""
        answers = [transport.value() for transport in servedInBothModes(app, request)]
        self.assertEqual(answers[0], answers[1])
        return answers[0]

    def test_contentLengthAdded(self) -> None:
        """A tuple body without Content-Length gets one."""
        answer = self.serve(answering(lambda: (b"abc", b"de")))
        self.assertIn(b"\r\nContent-Length: 5\r\n", answer)
        self.assertNotIn(b"Transfer-Encoding", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nabcde"))

    def test_appsContentLengthKept(self) -> None:
        """The app's Content-Length is the only one."""
        app = answering(lambda: [b"abc"], [("Content-Length", "3")])
        self.assertEqual(self.serve(app).lower().count(b"content-length"), 1)

    def test_emptyGenerator(self) -> None:
        """A generator that yields nothing: an empty body with Content-Length 0."""
        answer = self.serve(answering(lambda: pieces(0)))
        self.assertIn(b"\r\nContent-Length: 0\r\n", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\n"))

    def test_noLengthWithoutABody(self) -> None:
        """No Content-Length is made up for a HEAD, a 204 or a 304."""
        head = b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n"
        self.assertNotIn(b"Content-Length", self.serve(answering(lambda: []), head))
        for status in ["204 No Content", "304 Not Modified"]:

            def app(environ: dict, startResponse: Callable, status: str = status) -> list:
                startResponse(status, [])
                return []

            self.assertNotIn(b"Content-Length", self.serve(app))

    def test_listSubclassClosed(self) -> None:
        """A list subclass with a close() is a body like any other: close() is called."""
        closed = []

        class Body(list):
            def close(self) -> None:
                closed.append(True)

        answer = self.serve(answering(lambda: Body([b"x"])))
        self.assertTrue(answer.endswith(b"x"))
        self.assertEqual(closed, [True, True])


def dechunked(answer: bytes) -> bytes:
    """The body of a chunked C{answer}, checked to end with the last chunk."""
    rest = answer.partition(b"\r\n\r\n")[2]
    body = []
    while True:
        size, _, rest = rest.partition(b"\r\n")
        if int(size, 16) == 0:
            assert rest == b"\r\n", rest
            return b"".join(body)
        body.append(rest[: int(size, 16)])
        rest = rest[int(size, 16) + 2 :]


class InReactorHeldBodyTests(SynchronousTestCase):
    """
    In the reactor thread, an iterable body is held until it ends or passes
    SMALL bytes: a short one goes out whole, with a Content-Length.
    """

    def serve(self, app: Callable) -> bytes:
        channel, transport = connect(app, Clock(), None)
        channel.dataReceived(GET)
        return transport.value()

    def test_shortGenerator(self) -> None:
        """A generator of a few pieces: one body with its Content-Length, not chunked."""
        answer = self.serve(answering(lambda: pieces(3)))
        self.assertIn(b"\r\nContent-Length: 30\r\n", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\n" + b"".join(pieces(3))))

    def test_longGenerator(self) -> None:
        """A generator past SMALL bytes is streamed (chunked), every piece in order."""
        count = SMALL // 1000 + 2
        answer = self.serve(answering(lambda: pieces(count, 1000)))
        self.assertIn(b"Transfer-Encoding: chunked", answer)
        self.assertNotIn(b"Content-Length", answer)
        self.assertEqual(dechunked(answer), b"".join(pieces(count, 1000)))

    def test_writeAfterHeldPieces(self) -> None:
        """The write() callable, called after the body yielded held pieces, comes after them."""

        def app(environ: dict, startResponse: Callable) -> Iterator[bytes]:
            write = startResponse("200 OK", [])
            yield b"held;"
            write(b"written;")
            yield b"last;"

        answer = self.serve(app)
        self.assertIn(b"held;", answer)
        self.assertLess(answer.index(b"held;"), answer.index(b"written;"))
        self.assertLess(answer.index(b"written;"), answer.index(b"last;"))

    def test_failureWhileHeld(self) -> None:
        """An app that raises while its body is held: a 500, nothing of the body."""

        def app(environ: dict, startResponse: Callable) -> Iterator[bytes]:
            startResponse("200 OK", [])
            yield b"never sent"
            raise ValueError("late")

        answer = self.serve(app)
        self.assertTrue(answer.startswith(b"HTTP/1.1 500 "))
        self.assertNotIn(b"never sent", answer)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class AppMistakesTests(SynchronousTestCase):
    """
    An app that breaks PEP 3333 after start_response gets a 500, logged, in
    both modes: never a response that does not come.
    """

    def assertAnswers500(self, app: Callable, error: type[Exception]) -> None:
        for pool in [None, Pool()]:
            reactor = QueuedReactor()
            channel, transport = connect(app, reactor, pool)
            channel.dataReceived(GET)
            reactor.runQueued()
            self.assertTrue(transport.value().startswith(b"HTTP/1.1 500 "), (pool, transport))
            self.assertEqual(len(self.flushLoggedErrors(error)), 1)

    def test_textInAList(self) -> None:
        """A list holding a str."""
        self.assertAnswers500(answering(lambda: ["text"]), TypeError)

    def test_textFromAGenerator(self) -> None:
        """A generator yielding a str."""
        self.assertAnswers500(answering(lambda: iter(["text"])), TypeError)

    def test_closeRaising(self) -> None:
        """A body whose close() raises."""

        class Body(list):
            def close(self) -> None:
                raise ValueError("close")

        self.assertAnswers500(answering(lambda: Body([b"x"])), ValueError)


class ErrorPageTests(SynchronousTestCase):
    """start_response with exc_info, as error middleware calls it (PEP 3333)."""

    def app(self, environ: dict, startResponse: Callable) -> Iterator[bytes]:
        write = startResponse("200 OK", [])
        yield b"partial page;"
        try:
            raise ValueError("while rendering")
        except ValueError:
            write = startResponse("500 Internal Server Error", [], sys.exc_info())
        write(b"error page")

    def test_beforeAnythingWasSent(self) -> None:
        """In the reactor thread the page was held: only the error page is sent."""
        channel, transport = connect(self.app, Clock(), None)
        channel.dataReceived(GET)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 500 "))
        self.assertEqual(dechunked(transport.value()), b"error page")

    def test_afterSomeWasSent(self) -> None:
        """On a pool the page was handed over: start_response raises, the connection is cut."""
        reactor = QueuedReactor()
        channel, transport = connect(self.app, reactor, Pool())
        channel.dataReceived(GET)
        reactor.runQueued()
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 "))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class HeldHeadTests(SynchronousTestCase):
    """A HEAD answered from a generator in the reactor thread: no Content-Length made up."""

    def test_head(self) -> None:
        channel, transport = connect(answering(lambda: pieces(2)), Clock(), None)
        channel.dataReceived(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK"))
        self.assertNotIn(b"Content-Length", transport.value())
        self.assertTrue(transport.value().endswith(b"\r\n\r\n"))
