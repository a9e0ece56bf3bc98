"""Tests of L{recycler.worker.drain}: the deadline, the shared end of a drain, Completion."""

from __future__ import annotations

from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from recycler.worker.drain import Completion, Drain, abortDelay


def openConnection() -> Protocol:
    connection = Protocol()
    connection.makeConnection(StringTransport())
    return connection


class AbortDelayTests(SynchronousTestCase):
    """L{abortDelay} aborts leftovers shortly before the master's SIGKILL."""

    def test_oneSecondBeforeTheKill(self) -> None:
        """With the default grace and any long one, the worker aborts one second before."""
        self.assertEqual(abortDelay(30), 29)
        self.assertEqual(abortDelay(2), 1)

    def test_halfOfAShortGrace(self) -> None:
        """Below two seconds, it aborts halfway: still before the kill, never at once."""
        self.assertEqual(abortDelay(1), 0.5)
        self.assertEqual(abortDelay(0.5), 0.25)


class DrainTests(SynchronousTestCase):
    """L{Drain} aborts what is left at the deadline and fires once nothing is."""

    def test_nothingOpenFiresAtOnce(self) -> None:
        """With no connection, the drain is over at once and leaves no timer."""
        clock = Clock()
        drain = Drain(clock, 5, set())
        self.successResultOf(drain.wait())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_firesWhenTheLastConnectionIsGone(self) -> None:
        """Each L{Drain.check} after a close fires only once the collection is empty."""
        clock = Clock()
        first, second = openConnection(), openConnection()
        connections = {first, second}
        drain = Drain(clock, 5, connections)
        waiting = drain.wait()
        connections.discard(first)
        drain.check()
        self.assertNoResult(waiting)
        connections.discard(second)
        drain.check()
        self.successResultOf(waiting)
        self.assertEqual(clock.getDelayedCalls(), [], "the deadline is cancelled")

    def test_deadlineAbortsWhatIsLeft(self) -> None:
        """At the deadline every connection still open, in a dict or a set, is aborted."""
        clock = Clock()
        first, second = openConnection(), openConnection()
        drain = Drain(clock, 5, {first: 1, second: 1})
        clock.advance(4.9)
        self.assertFalse(first.transport.disconnected)
        clock.advance(0.1)
        self.assertTrue(first.transport.disconnected)
        self.assertTrue(second.transport.disconnected)
        self.assertNoResult(drain.wait())


class CompletionTests(SynchronousTestCase):
    """L{Completion} is a one-shot event."""

    def test_waitersFireOnce(self) -> None:
        """Every waiter fires when the completion fires; later waiters fire at once."""
        completion = Completion()
        first, second = completion.wait(), completion.wait()
        self.assertNoResult(first)
        completion.fire()
        completion.fire()
        self.assertIsNone(self.successResultOf(first))
        self.assertIsNone(self.successResultOf(second))
        self.assertTrue(completion.done)
        self.assertIsNone(self.successResultOf(completion.wait()))
