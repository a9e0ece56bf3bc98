# -*- test-case-name: tests.worker.test_wsgi_environ -*-
"""What a WSGI app sees of a twisted.web request (PEP 3333): the environ, C{start_response}.

L{environFor} builds the environ of one request, for
L{recycler.worker.wsgi.container.WSGIContainer}, from public twisted.web API, with
the per-request work kept small (it runs for every request):

 - each request header becomes an C{HTTP_*} key, except C{Content-Type} and
   C{Content-Length}, which PEP 3333 puts in C{CONTENT_TYPE} and
   C{CONTENT_LENGTH} only (C{wsgiref.validate} fails a request that has both);
 - C{wsgi.input} is the body Twisted received (C{request.content}: in memory,
   or a temporary file past 100 KB), a file with read(n), readline, readlines
   and iteration, at its start;
 - C{wsgi.multiprocess} is C{True}: the app always runs in more than one
   process at once. Even with C{--workers 1}, a recycled worker serves until
   its replacement is ready, and both share the socket;
 - C{wsgi.input_terminated} is C{True} (the extension gunicorn and Werkzeug
   use): the whole body was received before the app is called, so
   C{wsgi.input} ends at the body's end even without a C{Content-Length} (a
   chunked request); Flask reads such a body only then;
 - C{wsgi.errors} logs each write as an error event of system C{wsgi}.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger
from twisted.web.server import Request

NOT_HTTP_KEYS = frozenset((b"Content-Type", b"Content-Length"))
"""Request headers (as Twisted spells them) that have no C{HTTP_*} key (PEP 3333)."""

DROPPED_HEADERS = frozenset(
    {
        *("server", "date"),  # the server's (as in twisted.web.wsgi)
        *("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te"),
        *("trailer", "trailers", "transfer-encoding", "upgrade"),  # hop-by-hop (as gunicorn)
    }
)
"""Response headers (lower case) that an app may not set: they are left out."""


class ErrorStream:
    """C{wsgi.errors}: each write is logged as an error event (system C{wsgi})."""

    _log = Logger()

    def write(self, text: str) -> None:
        """
        Log C{text}.

        @raise TypeError: if it is not a str (PEP 3333).
        """
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._log.error("{text}", text=text.rstrip("\n"), system="wsgi")

    def writelines(self, lines: list[str]) -> None:
        """Log C{lines} as one event."""
        self.write("".join(lines))

    def flush(self) -> None:
        """Nothing is buffered."""


ERRORS = ErrorStream()
"""The C{wsgi.errors} of every request (it keeps no state)."""

_CONSTANT = {
    "wsgi.version": (1, 0),
    "wsgi.run_once": False,
    "wsgi.multiprocess": True,
    "wsgi.input_terminated": True,
    "wsgi.errors": ERRORS,
}


@lru_cache(maxsize=1024)
def _environKey(header: bytes) -> str:
    """C{HTTP_USER_AGENT} for C{User-Agent}."""
    return "HTTP_" + header.decode("latin-1").upper().replace("-", "_")


def _path(segments: list[bytes]) -> str:
    return ("/" + b"/".join(segments).decode("latin-1")) if segments else ""


def _serverName(host: bytes) -> str:
    """The name in a C{Host} header: C{::1} for C{[::1]:8080}, C{example.com} for C{example.com}."""
    if host.startswith(b"["):
        return host[1 : host.find(b"]")].decode("latin-1")
    return host.partition(b":")[0].decode("latin-1")


def environFor(request: Request, multithread: bool) -> dict[str, Any]:
    """The environ of C{request}: its CGI keys, an C{HTTP_*} key per header, the C{wsgi.*} keys."""
    query = request.uri.partition(b"?")[2]
    peer = request.getClientAddress()
    host = request.getHost()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.decode("latin-1"),
        "SCRIPT_NAME": _path(request.prepath),
        "PATH_INFO": _path(request.postpath),
        "QUERY_STRING": query.decode("latin-1"),
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": "",
        "SERVER_NAME": getattr(host, "host", ""),
        "SERVER_PORT": str(getattr(host, "port", "")),
        "SERVER_PROTOCOL": request.clientproto.decode("latin-1"),
        "REMOTE_ADDR": getattr(peer, "host", ""),
        "REMOTE_PORT": str(getattr(peer, "port", "")),
        "wsgi.url_scheme": "https" if ISSLTransport.providedBy(request.transport) else "http",
        "wsgi.multithread": multithread,
        "wsgi.input": request.content,
    }
    environ.update(_CONSTANT)
    for name, values in request.requestHeaders.getAllRawHeaders():
        value = values[0] if len(values) == 1 else b",".join(values)
        if name in NOT_HTTP_KEYS:
            environ["CONTENT_TYPE" if name == b"Content-Type" else "CONTENT_LENGTH"] = value.decode(
                "latin-1"
            )
        else:
            if name == b"Host":
                environ["SERVER_NAME"] = _serverName(value)
            environ[_environKey(name)] = value.decode("latin-1")
    return environ


StartedResponse = tuple[int, bytes, list[tuple[bytes, bytes]]]
"""A checked C{start_response}: the status code, the reason, the headers to send."""


def checkedResponse(status: object, headers: object) -> StartedResponse:
    """
    C{start_response}'s C{status} and C{headers}, checked (PEP 3333) and
    encoded: the code, the reason and the headers the app may set.

    A tuple is taken where PEP 3333 asks for a list, as gunicorn does.

    @raise TypeError: if C{status} is not a str, or C{headers} not a list of (str, str) tuples.
    @raise ValueError: if C{status} does not start with a 3-digit code, or a
        header is not latin-1.
    """
    if not isinstance(status, str):
        raise TypeError(f"status must be str, not {type(status).__name__}: {status!r}")
    code, _, reason = status.partition(" ")
    if len(code) != 3 or not code.isdigit():
        raise ValueError(f"status must start with a 3-digit code: {status!r}")
    if not reason.isprintable():
        raise ValueError(f"status must be one line of printable text: {status!r}")
    if not isinstance(headers, list | tuple):
        raise TypeError(f"headers must be a list, not {type(headers).__name__}: {headers!r}")
    encoded = []
    for header in headers:
        if isinstance(header, str | bytes):
            raise TypeError(f"each header must be a (str, str) tuple, not {header!r}")
        try:
            name, value = header
            pair = (name.encode("latin-1"), value.encode("latin-1"))
        except UnicodeEncodeError:
            raise ValueError(f"header {header!r} is not latin-1 (PEP 3333)") from None
        except (ValueError, TypeError, AttributeError):
            raise TypeError(f"each header must be a (str, str) tuple, not {header!r}") from None
        if name.lower() not in DROPPED_HEADERS:
            encoded.append(pair)
    return int(code), reason.encode("latin-1"), encoded


__all__ = ["ERRORS", "ErrorStream", "StartedResponse", "checkedResponse", "environFor"]
