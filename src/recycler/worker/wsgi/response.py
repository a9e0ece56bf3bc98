# -*- test-case-name: tests.worker.test_wsgi_container -*-
"""One WSGI request's response: its C{start_response}, and the calls that send it.

L{Response} holds what both ways of running an app share (see
L{recycler.worker.wsgi.container}): the environ, the C{start_response}
callable, and the reactor-thread calls that send the status, the headers and
the body, finish the request, or answer a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import INTERNAL_SERVER_ERROR, NO_BODY_CODES
from twisted.web.server import Request

from recycler.worker.wsgi.environ import StartedResponse, checkedResponse, environFor

if TYPE_CHECKING:
    from recycler.worker.wsgi.container import WSGIContainer


class Response:
    """
    One request's response: its environ and C{start_response}; the rest
    (running the app, writing its body) is the subclasses'.

    @ivar started: Whether a byte of the body was handed over.
    """

    write: Callable[[bytes], None]
    """The C{write} callable of C{start_response}, and each chunk of the body."""

    _log = Logger()
    _requestFinished = False
    _response: StartedResponse | None = None
    started = False

    def __init__(self, container: WSGIContainer, request: Request) -> None:
        self.reactor = container.reactor
        self.application = container.app
        self.request = request
        self.environ = environFor(request, container.pool is not None)
        request.defaultContentType = None  # the app sets every header

    def _finished(self, ignored: object) -> None:
        """The request is done, or its connection lost."""
        self._requestFinished = True

    def startResponse(
        self, status: str, headers: list[tuple[str, str]], excInfo: Any = None
    ) -> Callable[[bytes], None]:
        """The C{start_response} callable: check and keep the status and headers."""
        if excInfo is not None and self.started:
            raise excInfo[1].with_traceback(excInfo[2])
        self._response = checkedResponse(status, headers)
        return self.write

    def callApp(self) -> Iterable[bytes]:
        """Call the app."""
        return self.application(self.environ, self.startResponse)

    def checkStarted(self) -> None:
        """
        Raise if the app never called C{start_response}.

        @raise RuntimeError: then.
        """
        if self._response is None:
            raise RuntimeError("the WSGI app returned without calling start_response")

    def _setHeaders(self) -> None:
        """Give the request the app's status and headers."""
        if self._response is not None:
            code, reason, headers = self._response
            self.request.setResponseCode(code, reason)
            add = self.request.responseHeaders.addRawHeader
            for name, value in headers:
                add(name, value)

    def sendNow(self, data: bytes) -> None:
        """In the reactor thread: send the status and headers if not yet sent, then C{data}."""
        if self._requestFinished:
            return
        if not self.request.startedWriting:
            self._setHeaders()
        self.request.write(data)

    def finishWhole(self, chunks: Iterable[bytes]) -> None:
        """
        In the reactor thread: send the status, the headers and the whole body
        C{chunks} in one write (with a Content-Length if the app gave none, as
        C{wsgiref} does), and finish.
        """
        if self._requestFinished:
            return
        body = b"".join(chunks)
        request = self.request
        self._setHeaders()
        if (
            request.method != b"HEAD"
            and request.code not in NO_BODY_CODES
            and not request.responseHeaders.hasHeader(b"content-length")
        ):
            request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        request.write(body)
        request.finish()

    def finishNow(self) -> None:
        """In the reactor thread: send the headers, if not yet sent, and finish."""
        if not self._requestFinished:
            self.sendNow(b"")
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


def bytesOf(data: object) -> bytes:
    """
    C{data}, a piece of the app's body.

    @raise TypeError: if it is not bytes (PEP 3333).
    """
    if not isinstance(data, bytes):
        raise TypeError(f"the WSGI app gave {type(data).__name__} for its body, not bytes")
    return data


def closeBody(body: Iterable[bytes]) -> None:
    """Call C{body.close()}, if it has one (PEP 3333)."""
    close = getattr(body, "close", None)
    if close is not None:
        close()


__all__ = ["Response", "bytesOf", "closeBody"]
