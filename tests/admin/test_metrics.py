"""Tests of L{recycler.admin.metrics}: the Prometheus exposition of L{PoolStats}."""

from __future__ import annotations

import re

import attrs
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.metrics import metricsFields, metricsLines
from recycler.master.stats import ForkServerStatus
from tests.admin.support import FakePool

SAMPLE = re.compile(r'^[a-z_]+(\{[a-z]+="[^"\\]*"\})? -?[0-9.e+]+$')

FAMILIES = {
    "recycler_workers_born_total": "counter",
    "recycler_workers_exited_total": "counter",
    "recycler_workers_killed_total": "counter",
    "recycler_requests_served_total": "counter",
    "recycler_spawn_failures_total": "counter",
    "recycler_recycles_total": "counter",
    "recycler_workers": "gauge",
    "recycler_workers_target": "gauge",
    "recycler_requests_in_flight": "gauge",
    "recycler_uptime_seconds": "gauge",
    "recycler_crash_streak": "gauge",
}
"""Every family, with its type: the names dashboards depend on."""


class ExpositionTests(SynchronousTestCase):
    """The text format, version 0.0.4."""

    def setUp(self) -> None:
        self.stats = FakePool().stats()

    def test_metricsAreInThePrometheusTextFormat(self) -> None:
        """Each sample line is C{name{labels} value}; counters and states are present."""
        lines = metricsLines(self.stats)
        samples = {}
        for line in lines:
            if line.startswith("#"):
                self.assertRegex(line, r"^# (HELP|TYPE) [a-z_]+ .+$")
                continue
            self.assertRegex(line, SAMPLE)
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
        self.assertEqual(samples["recycler_workers_born_total"], 7)
        self.assertEqual(samples["recycler_workers_exited_total"], 5)
        self.assertEqual(samples["recycler_workers_killed_total"], 1)
        self.assertEqual(samples["recycler_requests_served_total"], 1234)
        self.assertEqual(samples["recycler_spawn_failures_total"], 2)
        self.assertEqual(samples['recycler_recycles_total{reason="ttl"}'], 4)
        self.assertEqual(samples['recycler_workers{state="starting"}'], 0)
        self.assertEqual(samples['recycler_workers{state="ready"}'], 1)
        self.assertEqual(samples['recycler_workers{state="draining"}'], 1)
        self.assertEqual(samples["recycler_workers_target"], 2)
        self.assertEqual(samples["recycler_requests_in_flight"], 3)
        self.assertEqual(samples["recycler_uptime_seconds"], 86.5)
        self.assertEqual(samples["recycler_crash_streak"], 0)
        self.assertIn("# TYPE recycler_workers_born_total counter", lines)
        self.assertIn("# TYPE recycler_workers gauge", lines)

    def test_everyFamilyKeepsItsNameAndType(self) -> None:
        """The families are exactly those of the docs, in order, each with its type."""
        types = [line.split()[2:] for line in metricsLines(self.stats) if line.startswith("# TYPE")]
        self.assertEqual(types, [[name, kind] for name, kind in FAMILIES.items()])

    def test_metricsEscapeLabelValues(self) -> None:
        """A recycle reason with quotes or newlines cannot break the exposition format."""
        stats = attrs.evolve(self.stats, recycles={'we"ird\nreason\\': 1})
        self.assertIn(
            'recycler_recycles_total{reason="we\\"ird\\nreason\\\\"} 1', metricsLines(stats)
        )

    def test_crashStreakAndNonFiniteValues(self) -> None:
        """The crash streak is exported; a non-finite gauge is written as Prometheus spells it."""
        stats = attrs.evolve(self.stats, crashStreak=3, uptime=float("inf"))
        lines = metricsLines(stats)
        self.assertIn("recycler_crash_streak 3", lines)
        self.assertIn("recycler_uptime_seconds +Inf", lines)

    def test_metricsJSON(self) -> None:
        """The JSON form gives the counters as one object, labelled families nested."""
        metrics = metricsFields(self.stats)
        self.assertEqual(metrics["recycler_requests_served_total"], 1234)
        self.assertEqual(metrics["recycler_recycles_total"], {"manual": 1, "ttl": 4})
        self.assertEqual(metrics["recycler_workers"], {"starting": 0, "ready": 1, "draining": 1})
        self.assertEqual(list(metrics), list(FAMILIES))


class ForkServerMetricsTests(SynchronousTestCase):
    """With forked workers, the fork server is exported too."""

    def test_forkServerFamilies(self) -> None:
        """C{recycler_fork_server_up} and its restarts, only when workers are forked."""
        pool = FakePool()
        self.assertNotIn("recycler_fork_server_up", metricsFields(pool.stats()))
        pool.forkServer = ForkServerStatus(pid=9, ready=False, restarts=4, failure="gone")
        fields = metricsFields(pool.stats())
        self.assertEqual(fields["recycler_fork_server_up"], 0)
        self.assertEqual(fields["recycler_fork_server_restarts_total"], 4)
        lines = metricsLines(pool.stats())
        self.assertIn("# TYPE recycler_fork_server_restarts_total counter", lines)
        self.assertIn("recycler_fork_server_up 0", lines)
