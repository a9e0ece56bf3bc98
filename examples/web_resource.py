"""A plain twisted.web resource served by recycler's workers.

    twistd -n recycler --app examples.web_resource:resource

(run from the repository root, so that ``examples`` is importable).
"""

import os

from twisted.web.resource import Resource
from twisted.web.server import Request


class Hello(Resource):
    """Answers every path with a greeting and the worker's pid."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return f"Hello from twisted.web, worker pid {os.getpid()}\n".encode()


resource = Hello()
