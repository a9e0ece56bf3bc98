"""Unit tests of the worker's pieces that need no process: accept pinning, status, stop."""

from __future__ import annotations

from twisted.internet.task import Clock

from recycler.worker.main import Worker, acceptOnePerWakeup


class FakePort:
    """Records the accept batch size each doRead runs with, as tcp.Port's loop would use."""

    def __init__(self) -> None:
        self.numberAccepts = 100
        self.seen: list[int] = []

    def doRead(self) -> None:
        self.seen.append(self.numberAccepts)
        self.numberAccepts += 20  # tcp.Port grows the batch when it was filled


def test_acceptOnePerWakeup():
    """Every doRead runs with a batch of one, although the port grows it after each call."""
    port = FakePort()
    acceptOnePerWakeup(port)
    port.doRead()
    port.doRead()
    assert port.seen == [1, 1]


class FakeServer:
    served = 7
    inFlight = 2


class FakeReactor(Clock):
    stops = 0

    def stop(self) -> None:
        self.stops += 1

    def addSystemEventTrigger(self, *args: object) -> None:
        pass


def test_statusAndStopOnce():
    """The worker reports ready, then its counters; asking it to stop twice stops once."""
    reactor = FakeReactor()
    sent = []
    worker = Worker(
        reactor, FakeServer(), [], idleGrace=1, grace=5, statusInterval=1,
        send=lambda kind, **fields: sent.append((kind, fields)),
    )  # fmt: skip
    worker.start()
    reactor.advance(1)
    assert [kind for kind, _ in sent] == ["ready", "status"]
    assert sent[1][1] == {"served": 7, "inFlight": 2}
    worker.stop()
    worker.stop()
    assert reactor.stops == 1
