# -*- test-case-name: tests.worker.test_container -*-
"""recycler's WSGI container: twisted.web's HTTP parsing, without a thread hop per chunk.

C{twisted.web.wsgi.WSGIResource} runs every request in a thread and makes a
blocking round trip to the reactor for every chunk it writes. L{WSGIContainer}
keeps Twisted's environ (and its C{wsgi.input}: read(n), readline, readlines,
iteration over the body Twisted received, spooled to a temporary file past
100 KB) and its C{start_response} checks, but hands the response over in one of
two ways:

 - without a thread pool (C{--threads 0}), the app runs in the reactor thread,
   one request at a time, and its body is written as it is iterated, as
   gunicorn's sync worker does (a paused transport stops the iteration until
   it resumes);
 - with a pool, the app runs in a thread; a list or tuple body of at most
   L{SMALL} bytes goes to the reactor with its status and headers in one
   C{callFromThread}; any other body is streamed, each chunk handed over
   without waiting for the reactor, at most L{IN_FLIGHT} chunks at a time, and
   not while the transport is paused (back-pressure).

Either way C{close()} is called on the body; an exception before any byte was
handed over answers 500, after that the connection is cut.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.types import WSGIApplication

from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.http import INTERNAL_SERVER_ERROR
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.wsgi import _WSGIResponse
from zope.interface import implementer

SMALL = 64 * 1024
"""The largest list or tuple body (bytes) handed to the reactor with its headers at once."""

IN_FLIGHT = 8
"""Chunks of a streamed body handed to the reactor and not yet written, at most."""


class WSGIContainer(Resource):
    """
    Serve C{app} for every path: in the reactor thread without C{pool}, else in C{pool}.

    @ivar reactor: Runs the writes of a thread (C{IReactorFromThreads}).
    """

    isLeaf = True

    def __init__(self, reactor: Any, pool: ThreadPool | None, app: WSGIApplication) -> None:
        super().__init__()
        self.reactor = reactor
        self.pool = pool
        self.app = app

    def render(self, request: Request) -> object:
        if self.pool is None:
            _InReactor(self, request).run()
        else:
            self.pool.callInThread(_InThread(self, request).run)
        return NOT_DONE_YET


class _Response(_WSGIResponse):
    """
    One request's response: Twisted's environ and C{start_response}; the
    rest (running the app, writing its body) is the subclasses'.
    """

    def __init__(self, container: WSGIContainer, request: Request) -> None:
        super().__init__(container.reactor, container.pool, container.app, request)
        self.environ["wsgi.multithread"] = container.pool is not None

    def callApp(self) -> Iterable[bytes]:
        """Call the app."""
        return self.application(self.environ, self.startResponse)

    def checkStarted(self) -> None:
        """
        Raise if the app never called C{start_response}.

        @raise RuntimeError: then.
        """
        if not hasattr(self, "status"):
            raise RuntimeError("the WSGI app returned without calling start_response")

    def sendNow(self, chunks: Iterable[bytes]) -> None:
        """In the reactor thread: send the status and headers if not yet sent, then C{chunks}."""
        if self._requestFinished:
            return
        if not self.request.startedWriting:
            self._sendResponseHeaders()
        for chunk in chunks:
            self.request.write(chunk)

    def finishNow(self, chunks: Iterable[bytes] = ()) -> None:
        """In the reactor thread: send C{chunks} (and the headers, if not yet sent) and finish."""
        if not self._requestFinished:
            self.sendNow(chunks)
            self.request.finish()

    def failNow(self, failure: Failure, started: bool) -> None:
        """In the reactor thread: log C{failure}; answer 500 if nothing was sent, else cut."""
        self._log.failure("WSGI application error", failure=failure)
        if self._requestFinished:
            return
        if self.request.producer is not None:
            self.request.unregisterProducer()
        if started or self.request.startedWriting:
            self.request.channel.transport.abortConnection()
        else:
            self.request.responseHeaders.setRawHeaders(b"content-length", [b"0"])
            self.request.setResponseCode(INTERNAL_SERVER_ERROR)
            self.request.finish()


def _close(body: Iterable[bytes]) -> None:
    """Call C{body.close()}, if it has one (PEP 3333)."""
    close = getattr(body, "close", None)
    if close is not None:
        close()


@implementer(IPushProducer)
class _InReactor(_Response):
    """
    A response produced in the reactor thread: each chunk is written as it
    comes. A transport that pauses (a slow client) stops the iteration until
    it resumes; meanwhile the reactor serves other connections.
    """

    _body: Iterable[bytes] = ()
    _chunks: Iterator[bytes] = iter(())
    _paused = False

    def write(self, data: bytes) -> None:
        """The C{write} callable of C{start_response}, and each chunk of the body."""
        if not self.started:
            self.started = True
            if not isinstance(self._body, list | tuple):
                self.request.registerProducer(self, True)
        self.sendNow((data,))

    def run(self) -> None:
        try:
            self._body = self.callApp()
            self._chunks = iter(self._body)
        except Exception:
            self.failNow(Failure(), self.started)
            return
        self._pump()

    def _pump(self) -> None:
        """Write the body's chunks until it ends, fails, or the transport pauses."""
        try:
            try:
                for chunk in self._chunks:
                    if chunk:
                        self.write(chunk)
                    if self._requestFinished:
                        break
                    if self._paused:
                        return
            except BaseException:
                _close(self._body)
                raise
            _close(self._body)
            self.checkStarted()
        except Exception:
            self.failNow(Failure(), self.started)
        else:
            if not self._requestFinished and self.request.producer is not None:
                self.request.unregisterProducer()
            self.finishNow()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        if self._paused:
            self._paused = False
            self._pump()

    def stopProducing(self) -> None:
        self._paused = True

    def _finished(self, ignored: object) -> None:
        """The request is done or its connection lost: close a body left paused."""
        self._requestFinished = True
        if self._paused:
            self._paused = False
            try:
                _close(self._body)
            except Exception:
                self._log.failure("WSGI application error: close() raised")


@implementer(IPushProducer)
class _InThread(_Response):
    """
    A response produced in a pool thread: small bodies in one hand-over,
    others streamed with back-pressure (the request's producer).
    """

    def __init__(self, container: WSGIContainer, request: Request) -> None:
        super().__init__(container, request)
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._writable = threading.Event()
        self._writable.set()

    def _finished(self, ignored: object) -> None:
        """The request is done (or its connection lost): wake a waiting thread."""
        self._requestFinished = True
        self._writable.set()
        self._slots.release(IN_FLIGHT)

    def pauseProducing(self) -> None:
        self._writable.clear()

    def resumeProducing(self) -> None:
        self._writable.set()

    def stopProducing(self) -> None:
        self._finished(None)

    def write(self, data: bytes) -> None:
        """Hand C{data} to the reactor, once it has room for it; in the app's thread."""
        self._writable.wait()
        self._slots.acquire()
        self.started = True
        self.reactor.callFromThread(self._writeNow, data)

    def _writeNow(self, data: bytes) -> None:
        if self.request.producer is None and not self._requestFinished:
            self.request.registerProducer(self, True)
        self.sendNow((data,))
        self._slots.release()

    def run(self) -> None:
        try:
            body = self.callApp()
            try:
                small = self._collect(body)
            finally:
                _close(body)
            self.checkStarted()
        except Exception:
            self.reactor.callFromThread(self.failNow, Failure(), self.started)
            return
        self.reactor.callFromThread(self._done, small)

    def _done(self, chunks: list[bytes]) -> None:
        if not self._requestFinished and self.request.producer is not None:
            self.request.unregisterProducer()
        self.finishNow(chunks)

    def _collect(self, body: Iterable[bytes]) -> list[bytes]:
        """
        The whole of a small list or tuple C{body}, to send with the headers;
        any other is streamed here with L{write} (and nothing is left).
        """
        if isinstance(body, list | tuple) and not self.started:
            if sum(len(chunk) for chunk in body) <= SMALL:
                return list(body)
        chunks: Iterator[bytes] = iter(body)
        for chunk in chunks:
            if chunk:
                self.write(chunk)
            if self._requestFinished:
                break
        return []


__all__ = ["IN_FLIGHT", "SMALL", "WSGIContainer"]
