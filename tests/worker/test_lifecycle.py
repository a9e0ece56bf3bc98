"""Tests of L{recycler.worker.lifecycle}: ready, heartbeat, stop, drain, final status."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.worker.drain import abortDelay
from recycler.worker.lifecycle import Worker


class FakePort:
    """An adopted port that records what the worker did to it, in a shared journal."""

    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal

    def stopReading(self) -> None:
        self.journal.append(f"{self.name}.stopReading")

    def stopListening(self) -> Deferred[None]:
        self.journal.append(f"{self.name}.stopListening")
        return succeed(None)


class FakeServer:
    """An L{IDrainable} whose drain ends when the test says so."""

    served = 7
    inFlight = 2

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.drainedWith: tuple[float, float] | None = None
        self.drained: Deferred[None] = Deferred()

    def drain(self, idleGrace: float, deadline: float) -> Deferred[None]:
        self.journal.append("drain")
        self.drainedWith = (idleGrace, deadline)
        return self.drained


class StopCountingReactor(MemoryReactorClock):
    """Counts calls to C{stop}."""

    stops = 0

    def stop(self) -> None:
        self.stops += 1
        super().stop()


class WorkerTests(SynchronousTestCase):
    """L{Worker} reports to the master and drains through the reactor's shutdown."""

    def setUp(self) -> None:
        self.reactor = StopCountingReactor()
        self.journal: list[str] = []
        self.server = FakeServer(self.journal)
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.worker = Worker(
            self.reactor,
            self.server,
            [FakePort("a", self.journal), FakePort("b", self.journal)],
            idleGrace=1,
            grace=30,
            statusInterval=1,
            send=lambda kind, **fields: self.sent.append((kind, fields)),
        )

    def shutdown(self) -> Deferred[object]:
        """Run the worker's "before shutdown" trigger, as the reactor's stop would."""
        [(trigger, args, kwargs)] = self.reactor.triggers["before"]["shutdown"]
        return trigger(*args, **kwargs)

    def test_readyThenStatusEveryInterval(self) -> None:
        """The worker reports ready with its pid, then its counters every interval."""
        self.worker.start()
        self.assertEqual(self.sent, [(wire.Event.READY, {"pid": os.getpid()})])
        self.reactor.advance(0.9)
        self.assertEqual(len(self.sent), 1)
        self.reactor.advance(0.1)
        self.reactor.advance(1)
        status = (wire.Event.STATUS, {"served": 7, "inFlight": 2})
        self.assertEqual(self.sent[1:], [status, status])

    def test_stopOnce(self) -> None:
        """Asking the worker to stop twice stops the reactor once."""
        self.worker.start()
        self.worker.stop()
        self.worker.stop()
        self.assertEqual(self.reactor.stops, 1)

    def test_drainThenFinalStatus(self) -> None:
        """
        The shutdown stops accepting, drains the server with the abort deadline
        derived from the master's grace, and only once drained stops listening,
        stops the heartbeat and reports the final counters.
        """
        self.worker.start()
        self.worker.stop()
        finished = self.shutdown()
        self.assertEqual(self.journal, ["a.stopReading", "b.stopReading", "drain"])
        self.assertEqual(self.server.drainedWith, (1, abortDelay(30)))
        self.assertNoResult(finished)
        del self.sent[:]
        self.server.drained.callback(None)
        self.successResultOf(finished)
        self.assertEqual(self.journal[3:], ["a.stopListening", "b.stopListening"])
        self.assertEqual(self.sent, [(wire.Event.STATUS, {"served": 7, "inFlight": 2})])
        self.reactor.advance(5)
        self.assertEqual(len(self.sent), 1, "no heartbeat after the final status")

    def test_stopWhileDrainingDoesNothing(self) -> None:
        """A SIGTERM during a drain the reactor started does not stop it again."""
        self.worker.start()
        self.shutdown()
        self.worker.stop()
        self.assertEqual(self.reactor.stops, 0)

    def test_masterGone(self) -> None:
        """
        When the master is gone the worker warns, stops listening at once (so a
        new master can bind the port), and drains; it stops listening only once.
        """
        self.worker.start()
        with capturedLogs() as events:
            self.worker.masterGone()
        self.assertEqual([e["log_level"] for e in events], [LogLevel.warn])
        self.assertEqual(self.journal, ["a.stopListening", "b.stopListening"])
        self.assertEqual(self.reactor.stops, 1)
        finished = self.shutdown()
        self.server.drained.callback(None)
        self.successResultOf(finished)
        self.assertEqual(self.journal[2:], ["a.stopReading", "b.stopReading", "drain"])

    def test_masterGoneWhileDrainingIsQuiet(self) -> None:
        """A worker already draining does not warn when the master goes away."""
        self.worker.start()
        self.worker.stop()
        with capturedLogs() as events:
            self.worker.masterGone()
        self.assertEqual(events, [])
        self.assertEqual(self.reactor.stops, 1)
