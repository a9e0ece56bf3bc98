"""A WSGI app wrapped in C{wsgiref.validate.validator}: any PEP 3333 violation raises.

    twistd -n recycler --app tests.wsgi_app.validated

The validator's wrapper takes C{*args}, as many middleware wrappers do. Paths:
C{/echo} answers the request body, read from C{wsgi.input} (up to
C{CONTENT_LENGTH}, or to its end when the server says it is terminated: chunked
bodies); C{/stream} answers from a generator, in pieces; C{/environ} answers the
environ's plain values as JSON; C{/closing} answers with an iterable that
records its C{close()} in L{CLOSED}; C{/fail} raises L{Failed} after
C{start_response}, before any byte of the body, C{/failLate} after the first
piece; any other path answers C{hello}. A violation raises C{AssertionError} in
the worker, which recycler logs and answers with 500 (or cuts the connection).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO
from wsgiref.types import StartResponse, WSGIEnvironment
from wsgiref.validate import validator

STREAMED = [b"one ", b"two ", b"three\n"]
"""The pieces C{/stream} sends, one per iteration."""

CLOSED: list[bool] = []
"""Each C{/closing} response appends C{True} once closed."""


class Failed(Exception):
    """What C{/fail} and C{/failLate} raise."""


class Closing:
    """A response iterable (not a list) that records its C{close()}."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"closing\n"

    def close(self) -> None:
        CLOSED.append(True)


def simpleApp(environ: WSGIEnvironment, startResponse: StartResponse) -> Iterable[bytes]:
    """Answer according to C{PATH_INFO} (see the module docstring)."""
    path = environ["PATH_INFO"]
    if path == "/stream":
        return stream(startResponse)
    if path in ("/fail", "/failLate"):
        return failing(startResponse, path == "/failLate")
    if path == "/closing":
        startResponse("200 OK", [("Content-Type", "text/plain")])
        return Closing()
    if path == "/echo":
        body = readBody(environ)
    elif path == "/environ":
        plain = {k: v for k, v in environ.items() if isinstance(v, str | bool | int)}
        body = json.dumps(plain).encode()
    else:
        body = b"hello\n"
    startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def readBody(environ: WSGIEnvironment) -> bytes:
    """The request body, read the way PEP 3333 allows (C{read} always with a size)."""
    stream: IO[bytes] = environ["wsgi.input"]
    if environ.get("CONTENT_LENGTH"):
        return stream.read(int(environ["CONTENT_LENGTH"]))
    if environ.get("wsgi.input_terminated"):
        return b"".join(iter(lambda: stream.read(4096), b""))
    return b""


def stream(startResponse: StartResponse) -> Iterator[bytes]:
    """A streamed response: the status once the body is first asked for, then L{STREAMED}."""
    startResponse("200 OK", [("Content-Type", "text/plain")])
    yield from STREAMED


def failing(startResponse: StartResponse, late: bool) -> Iterator[bytes]:
    """
    Start a response, then raise L{Failed}: if C{late}, after a first piece
    large enough that a server must have sent some of it (it may hold a small
    body until it ends, to send it with a Content-Length).
    """
    startResponse("200 OK", [("Content-Type", "text/plain")])
    if late:
        yield b"first" * 20000
    raise Failed("as asked")


validated = validator(simpleApp)
"""L{simpleApp} checked by C{wsgiref.validate}: what the tests serve."""
