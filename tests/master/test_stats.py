"""Tests of L{recycler.master.stats}: the start-up histogram and the per-worker counts."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.spawn import WorkerCommand
from recycler.master.stats import STARTUP_BUCKETS, Histogram, PoolTotals
from recycler.master.triggers import TriggerConfig
from recycler.testing import FakeProcessReactor


class FakeListeners:
    """The shared sockets: one, as fd 7 in the master."""

    def filenos(self) -> list[int]:
        return [7]


class HistogramTests(SynchronousTestCase):
    """Observations land in Prometheus buckets: C{le} is inclusive, C{+Inf} takes the rest."""

    def test_bucketsSpanMillisecondsToSeconds(self) -> None:
        """The bounds go from 5 ms (a forked worker) to 10 s (a slow app), ascending."""
        self.assertEqual((STARTUP_BUCKETS[0], STARTUP_BUCKETS[-1]), (0.005, 10.0))
        self.assertEqual(list(STARTUP_BUCKETS), sorted(set(STARTUP_BUCKETS)))

    def test_observeCountsInTheFirstBucketAtOrAboveTheValue(self) -> None:
        """A value equal to a bound counts in that bucket; one above the last in C{+Inf}."""
        histogram = Histogram(bounds=(0.01, 0.1))
        for value in (0.002, 0.01, 0.05, 0.1, 42.0):
            histogram = histogram.observe(value)
        self.assertEqual(histogram.counts, (2, 2, 1))
        self.assertEqual(histogram.count, 5)
        self.assertAlmostEqual(histogram.sum, 42.162)
        inf = float("inf")
        self.assertEqual(histogram.cumulative(), [(0.01, 2), (0.1, 4), (inf, 5)])

    def test_observingMakesANewHistogram(self) -> None:
        """A histogram is a value: a snapshot holding one never changes."""
        empty = Histogram()
        empty.observe(1.0)
        self.assertEqual((empty.count, empty.sum), (0, 0.0))
        self.assertEqual(len(empty.cumulative()), len(STARTUP_BUCKETS) + 1)


class TotalsTests(SynchronousTestCase):
    """L{PoolTotals.ready} accumulates start-up times."""

    def test_readyCountsStartupsAndHandsThemOn(self) -> None:
        """Each start-up is counted and returned (for the pool's estimate); L{None} is not."""
        totals = PoolTotals()
        self.assertEqual(totals.ready(0.012), 0.012)
        self.assertIsNone(totals.ready(None))
        self.assertEqual(totals.ready(3.0), 3.0)
        self.assertEqual(totals.startups.count, 2)
        self.assertEqual(dict(totals.startups.cumulative())[0.025], 1)


class PoolAccountingTests(SynchronousTestCase):
    """The pool records each worker's start-up as it becomes ready, and its requests."""

    def setUp(self) -> None:
        self.reactor = FakeProcessReactor()
        config = PoolConfig(target=2, triggers=TriggerConfig(ttl=None, bootTimeout=None))
        command = WorkerCommand("/py", [], {}, FakeListeners())
        self.pool = WorkerPool(self.reactor, command, config, random=lambda: 0.5)
        self.pool.startService()

    def test_startupsAreObservedWhenWorkersBecomeReady(self) -> None:
        """Ready after 0.02 s and 3 s: two samples, in their buckets; exits keep them."""
        first, second = self.reactor.processes
        self.reactor.advance(0.02)
        first.send(wire.Event.READY)
        self.reactor.advance(2.98)
        second.send(wire.Event.READY)
        startups = self.pool.stats().startups
        self.assertEqual(startups.count, 2)
        self.assertAlmostEqual(startups.sum, 3.02)
        buckets = dict(startups.cumulative())
        self.assertEqual((buckets[0.01], buckets[0.025], buckets[2.5], buckets[5.0]), (0, 1, 1, 2))
        first.exit(0)
        self.assertEqual(self.pool.stats().startups.count, 2, "monotonic across exits")

    def test_servedByWorkerHasEveryLiveWorker(self) -> None:
        """Each live worker's reported requests, by id; an exited worker leaves the map."""
        first, second = self.reactor.processes
        for process in (first, second):
            process.send(wire.Event.READY)
        first.send(wire.Event.STATUS, served=7, inFlight=0)
        second.send(wire.Event.STATUS, served=3, inFlight=1)
        self.assertEqual(self.pool.stats().servedByWorker, {1: 7, 2: 3})
        first.exit(0)
        stats = self.pool.stats()
        self.assertEqual(stats.servedByWorker, {2: 3, 3: 0})
        self.assertEqual(stats.served, 10)
