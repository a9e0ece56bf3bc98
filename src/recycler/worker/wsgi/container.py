# -*- test-case-name: tests.worker.test_wsgi_container -*-
"""recycler's WSGI container: twisted.web's HTTP parsing, without a thread hop per chunk.

C{twisted.web.wsgi.WSGIResource} runs every request in a thread and makes a
blocking round trip to the reactor for every chunk it writes. L{WSGIContainer}
keeps Twisted's HTTP parsing (and the body it received, spooled to a temporary
file past 100 KB, as C{wsgi.input}: see L{recycler.worker.wsgi.environ}),
builds the environ with less work per request, and hands the response over in
one of two ways:

 - without a thread pool (C{--threads 0}), the app runs in the reactor thread,
   one request at a time; a list or tuple body goes out with its status and
   headers in one write, any other is written as it is iterated, as gunicorn's
   sync worker does (a paused transport stops the iteration until it
   resumes);
 - with a pool, the app runs in a thread; a list or tuple body of at most
   L{SMALL} bytes goes to the reactor with its status and headers in one
   C{callFromThread}; any other body is streamed, each chunk handed over
   without waiting for the reactor, at most L{IN_FLIGHT} chunks at a time, and
   not while the transport is paused (back-pressure).

A body known whole before anything was sent (a list or tuple, or an iterable
that yielded nothing) gets a Content-Length if the app gave none, as
C{wsgiref} does, rather than chunked encoding. Either way C{close()} is called
on the body; an exception before any byte was handed over answers 500, after
that the connection is cut.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.types import WSGIApplication

from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer

from recycler.worker.wsgi.response import Response, bytesOf, closeBody

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


@implementer(IPushProducer)
class _InReactor(Response):
    """
    A response produced in the reactor thread. Its body is held until it ends
    or passes L{SMALL} bytes (nothing would leave before the reactor runs
    anyway), so that a short one goes out in one write with a Content-Length;
    past that it is written as it is iterated. A transport that pauses (a slow
    client) stops the iteration until it resumes; meanwhile the reactor serves
    other connections.
    """

    _body: Iterable[bytes] = ()
    _chunks: Iterator[bytes] = iter(())
    _paused = False

    def __init__(self, container: WSGIContainer, request: Request) -> None:
        super().__init__(container, request)
        self._held: list[bytes] = []
        self._heldSize = 0

    def startResponse(
        self, status: str, headers: list[tuple[str, str]], excInfo: Any = None
    ) -> Callable[[bytes], None]:
        """C{start_response}; with C{exc_info} before anything was sent, the held body goes too."""
        write = super().startResponse(status, headers, excInfo)
        if excInfo is not None:
            self._held, self._heldSize = [], 0
        return write

    def write(self, data: bytes) -> None:
        self.checkStarted()
        data = bytesOf(data)
        if not self.started:
            self.started = True
            self.request.notifyFinish().addBoth(self._finished)
            self.request.registerProducer(self, True)
            if self._held:
                data = b"".join([*self._held, data])
                self._held = []
        self.sendNow(data)

    def run(self) -> None:
        try:
            self._body = self.callApp()
            if isinstance(self._body, list | tuple) and not self.started:
                try:
                    self.checkStarted()
                finally:
                    closeBody(self._body)
                self.finishWhole(self._body)
                return
            self._chunks = iter(self._body)
        except Exception:
            self.failNow(Failure(), self.started)
            return
        self._pump()

    def _pump(self) -> None:
        """Hold or write the body's chunks until it ends, fails, or the transport pauses."""
        try:
            try:
                for chunk in self._chunks:
                    if not self.started:
                        self._held.append(chunk)
                        self._heldSize += len(chunk)
                        if self._heldSize <= SMALL:
                            continue
                        chunk = self._held.pop()
                    if chunk:
                        self.write(chunk)
                    if self._requestFinished:
                        break
                    if self._paused:
                        return
            except BaseException:
                closeBody(self._body)
                raise
            closeBody(self._body)
            self.checkStarted()
            if not self.started:
                self.finishWhole(self._held)
                return
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
                closeBody(self._body)
            except Exception:
                self._log.failure("WSGI application error: close() raised")


@implementer(IPushProducer)
class _InThread(Response):
    """
    A response produced in a pool thread: small bodies in one hand-over,
    others streamed with back-pressure (the request's producer).
    """

    def __init__(self, container: WSGIContainer, request: Request) -> None:
        super().__init__(container, request)
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._writable = threading.Event()
        self._writable.set()
        request.notifyFinish().addBoth(self._finished)

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
        self.checkStarted()
        data = bytesOf(data)
        self._writable.wait()
        self._slots.acquire()
        self.started = True
        self.reactor.callFromThread(self._writeNow, data)

    def _writeNow(self, data: bytes) -> None:
        if self.request.producer is None and not self._requestFinished:
            self.request.registerProducer(self, True)
        self.sendNow(data)
        self._slots.release()

    def run(self) -> None:
        try:
            body = self.callApp()
            try:
                small = self._collect(body)
            finally:
                closeBody(body)
            self.checkStarted()
        except Exception:
            self.reactor.callFromThread(self.failNow, Failure(), self.started)
            return
        self.reactor.callFromThread(self._done, small)

    def _done(self, chunks: list[bytes]) -> None:
        if not self.started:
            self.finishWhole(chunks)
            return
        if not self._requestFinished and self.request.producer is not None:
            self.request.unregisterProducer()
        self.finishNow()

    def _collect(self, body: Iterable[bytes]) -> list[bytes]:
        """
        The whole of a small list or tuple C{body} (joined here, in the app's
        thread), to send with the headers; any other is streamed here with
        L{write} (and nothing is left).
        """
        if isinstance(body, list | tuple) and not self.started:
            if sum(len(chunk) for chunk in body) <= SMALL:
                return [b"".join(body)]
        chunks: Iterator[bytes] = iter(body)
        for chunk in chunks:
            if chunk:
                self.write(chunk)
            if self._requestFinished:
                break
        return []


__all__ = ["IN_FLIGHT", "SMALL", "WSGIContainer"]
