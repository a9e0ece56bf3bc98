# -*- test-case-name: tests.worker.test_apps -*-
"""The environ a WSGI app sees, made PEP 3333-conformant on top of C{twisted.web.wsgi}.

Twisted's WSGI code builds each request's environ (for recycler's
L{recycler.worker.container.WSGIContainer}). L{conformingApp} corrects it
before every call of the app and leaves the app's result alone (so its
C{close()} is still the container's to call):

 - C{HTTP_CONTENT_TYPE} and C{HTTP_CONTENT_LENGTH} are removed. Twisted copies
   every request header into an C{HTTP_*} key, but PEP 3333 forbids these two
   (C{CONTENT_TYPE} and C{CONTENT_LENGTH} carry them), and
   C{wsgiref.validate} fails every request that has a body.
 - C{wsgi.multiprocess} is C{True}: the app always runs in more than one
   process at once. Even with C{--workers 1}, a recycled worker serves until
   its replacement is ready, and both share the socket.
 - C{wsgi.input_terminated} is C{True} (the extension gunicorn and Werkzeug
   use): Twisted hands the app the whole body, received before the app is
   called, so C{wsgi.input} ends at the body's end even without a
   C{Content-Length} (a chunked request); Flask reads such a body only then.
"""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

FORBIDDEN = ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
"""Environ keys PEP 3333 does not allow (use C{CONTENT_TYPE}, C{CONTENT_LENGTH})."""

CORRECTED = {"wsgi.multiprocess": True, "wsgi.input_terminated": True}
"""Environ entries that recycler sets for every request."""


def conformingApp(app: WSGIApplication) -> WSGIApplication:
    """Wrap C{app} so that it sees an environ without L{FORBIDDEN} keys and with L{CORRECTED}."""

    def conforming(environ: WSGIEnvironment, startResponse: StartResponse) -> Iterable[bytes]:
        for key in FORBIDDEN:
            environ.pop(key, None)
        environ.update(CORRECTED)
        return app(environ, startResponse)

    return conforming
