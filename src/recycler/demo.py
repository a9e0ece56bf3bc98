# -*- test-case-name: tests.worker.test_drain_http -*-
"""The demo app of the Node.js cluster example: wait, then answer a fixed body.

C{recycler.demo:resource} waits 1 s without blocking and answers
C{Request done\\n}; C{recycler.demo:hello} answers C{hello\\n} at once.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request


class DelayedAnswer(Resource):
    """Answers every method and path with C{body} after C{delay} seconds."""

    isLeaf = True

    def __init__(self, delay: float, body: bytes, clock: IReactorTime | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.body = body
        self._clock = clock

    def render(self, request: Request) -> bytes | int:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        if self.delay <= 0:
            return self.body
        call = self._reactor().callLater(self.delay, self._answer, request)
        request.notifyFinish().addErrback(lambda _: call.active() and call.cancel())
        return NOT_DONE_YET

    def _answer(self, request: Request) -> None:
        request.setHeader(b"content-length", b"%d" % len(self.body))
        request.write(self.body)
        request.finish()

    def _reactor(self) -> IReactorTime:
        if self._clock is None:
            from twisted.internet import reactor

            self._clock = reactor
        return self._clock


resource = DelayedAnswer(1.0, b"Request done\n")
hello = DelayedAnswer(0.0, b"hello\n")
