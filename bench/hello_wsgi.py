"""A WSGI twin of C{recycler.demo:hello} for the gunicorn comparison in C{bench/run.py}.

    gunicorn --pythonpath bench -k gthread -w 4 hello_wsgi:application

Answers every method and path with C{hello\\n} at once, with the same headers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"hello\n"
HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", str(len(BODY))),
]


def application(environ: dict[str, Any], startResponse: Callable[..., Any]) -> Iterable[bytes]:
    """Answer C{hello\\n} with status 200."""
    startResponse("200 OK", HEADERS)
    return [BODY]
