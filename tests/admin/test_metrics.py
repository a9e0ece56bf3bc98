"""Tests of L{recycler.admin.metrics}: the pool's families through C{prometheus_client}."""

from __future__ import annotations

import attrs
import prometheus_client
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.metrics import metricsFields, metricsLines, poolRegistry
from recycler.master.stats import ForkServerStatus, Histogram, PoolStats
from tests.admin.support import AdminTestCase, FakePool

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
    "recycler_worker_startup_seconds": "histogram",
    "recycler_worker_requests_total": "counter",
}
"""Every family as exposed, with its type, in order: the names dashboards depend on."""


def exampleStats() -> PoolStats:
    """The fake pool's totals, with two start-ups and two live workers' requests."""
    startups = Histogram().observe(0.012).observe(0.3)
    return attrs.evolve(FakePool().stats(), startups=startups, servedByWorker={3: 12, 10: 5})


def parse(lines: list[str]) -> dict[str, tuple[str, list[Sample]]]:
    """The exposition parsed by C{prometheus_client}'s own parser: type and samples by name."""
    families = text_string_to_metric_families("\n".join(lines) + "\n")
    return {
        family.name + ("_total" if family.type == "counter" else ""): (family.type, family.samples)
        for family in families
    }


def values(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}


class ExpositionTests(SynchronousTestCase):
    """The text format, as C{prometheus_client} writes and parses it."""

    def setUp(self) -> None:
        self.stats = exampleStats()
        self.families = parse(metricsLines(self.stats))

    def test_everyFamilyKeepsItsNameAndType(self) -> None:
        """The families are exactly those of the docs, in order, each with its type."""
        types = {name: kind for name, (kind, _) in self.families.items()}
        self.assertEqual(list(types.items()), list(FAMILIES.items()))

    def test_totalsAndGauges(self) -> None:
        """Unlabelled families carry the snapshot's numbers."""
        expected = {
            "recycler_workers_born_total": 7,
            "recycler_workers_exited_total": 5,
            "recycler_workers_killed_total": 1,
            "recycler_requests_served_total": 1234,
            "recycler_spawn_failures_total": 2,
            "recycler_workers_target": 2,
            "recycler_requests_in_flight": 3,
            "recycler_uptime_seconds": 86.5,
            "recycler_crash_streak": 0,
        }
        for name, value in expected.items():
            [sample] = self.families[name][1]
            self.assertEqual((sample.name, sample.labels, sample.value), (name, {}, value))

    def test_labelledFamilies(self) -> None:
        """Recycles by reason, workers by state (all three), requests by live worker."""
        self.assertEqual(
            values(self.families["recycler_recycles_total"][1]),
            {
                ("recycler_recycles_total", (("reason", "manual"),)): 1,
                ("recycler_recycles_total", (("reason", "ttl"),)): 4,
            },
        )
        states = {s.labels["state"]: s.value for s in self.families["recycler_workers"][1]}
        self.assertEqual(states, {"starting": 0, "ready": 1, "draining": 1})
        perWorker = values(self.families["recycler_worker_requests_total"][1])
        self.assertEqual(
            perWorker,
            {
                ("recycler_worker_requests_total", (("worker", "3"),)): 12,
                ("recycler_worker_requests_total", (("worker", "10"),)): 5,
            },
        )

    def test_startupHistogram(self) -> None:
        """Cumulative buckets from 5 ms to 10 s and C{+Inf}, with the count and the sum."""
        kind, samples = self.families["recycler_worker_startup_seconds"]
        self.assertEqual(kind, "histogram")
        buckets = {
            s.labels["le"]: s.value
            for s in samples
            if s.name == "recycler_worker_startup_seconds_bucket"
        }
        self.assertEqual(
            list(buckets),
            "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1.0 2.5 5.0 10.0 +Inf".split(),
        )
        self.assertEqual(
            (buckets["0.01"], buckets["0.025"], buckets["0.5"], buckets["+Inf"]), (0, 1, 2, 2)
        )
        totals = values(samples)
        self.assertEqual(totals[("recycler_worker_startup_seconds_count", ())], 2)
        self.assertAlmostEqual(totals[("recycler_worker_startup_seconds_sum", ())], 0.312)

    def test_labelValuesAreEscaped(self) -> None:
        """A recycle reason with quotes or newlines cannot break the exposition format."""
        stats = attrs.evolve(self.stats, recycles={'we"ird\nreason\\': 1})
        self.assertIn(
            'recycler_recycles_total{reason="we\\"ird\\nreason\\\\"} 1.0', metricsLines(stats)
        )
        [sample] = parse(metricsLines(stats))["recycler_recycles_total"][1]
        self.assertEqual(sample.labels["reason"], 'we"ird\nreason\\')

    def test_crashStreakAndNonFiniteValues(self) -> None:
        """The crash streak is exported; a non-finite gauge is written as Prometheus spells it."""
        stats = attrs.evolve(self.stats, crashStreak=3, uptime=float("inf"))
        lines = metricsLines(stats)
        self.assertIn("recycler_crash_streak 3.0", lines)
        self.assertIn("recycler_uptime_seconds +Inf", lines)

    def test_noReplyLineLooksLikeTheEndOfAReply(self) -> None:
        """The admin framing holds: no line is empty, C{ok} or C{error:...}."""
        for line in metricsLines(self.stats):
            self.assertTrue(line and line != "ok" and not line.startswith("error:"), line)

    def test_metricsJSON(self) -> None:
        """The JSON form gives the same families as one object, labelled families nested."""
        metrics = metricsFields(self.stats)
        self.assertEqual(list(metrics), list(FAMILIES))
        self.assertEqual(metrics["recycler_requests_served_total"], 1234)
        self.assertEqual(metrics["recycler_recycles_total"], {"manual": 1, "ttl": 4})
        self.assertEqual(metrics["recycler_workers"], {"starting": 0, "ready": 1, "draining": 1})
        self.assertEqual(metrics["recycler_worker_requests_total"], {"3": 12, "10": 5})
        startups = metrics["recycler_worker_startup_seconds"]
        self.assertEqual((startups["count"], startups["buckets"]["0.025"]), (2, 1))
        self.assertAlmostEqual(startups["sum"], 0.312)


class RegistryTests(SynchronousTestCase):
    """One collector, in a private registry, read afresh at each scrape."""

    def test_eachScrapeReadsTheStatsAgain(self) -> None:
        """The registry calls C{stats} at every collection: numbers move, families stay."""
        pool = FakePool()
        registry = poolRegistry(pool.stats)
        before = registry.get_sample_value("recycler_workers_target")
        pool.scale(5)
        self.assertEqual((before, registry.get_sample_value("recycler_workers_target")), (2, 5))

    def test_theGlobalRegistryIsLeftAlone(self) -> None:
        """Building registries (one per master) never registers in C{prometheus_client}'s own."""
        poolRegistry(FakePool().stats)
        poolRegistry(FakePool().stats)
        self.assertIsNone(prometheus_client.REGISTRY.get_sample_value("recycler_workers_target"))

    def test_adminLinesAreTheRegistrysExposition(self) -> None:
        """The admin command's lines are what C{generate_latest} writes for the same stats."""
        stats = exampleStats()
        exposition = generate_latest(poolRegistry(lambda: stats)).decode()
        self.assertEqual(metricsLines(stats), exposition.splitlines())


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
        families = parse(metricsLines(pool.stats()))
        self.assertEqual(families["recycler_fork_server_restarts_total"][0], "counter")
        self.assertEqual(families["recycler_fork_server_up"][1][0].value, 0)


class MetricsCommandTests(AdminTestCase):
    """The admin C{metrics} command: the exposition, then C{ok}."""

    def test_replyParsesWithoutItsOkLine(self) -> None:
        """Every line but the last parses as Prometheus text; the last is the framing's C{ok}."""
        reply = self.client.send("metrics")
        self.assertEqual(reply[-1], "ok")
        families = parse(reply[:-1])
        self.assertEqual(list(families), list(FAMILIES))
        [target] = families["recycler_workers_target"][1]
        self.assertEqual(target.value, 2)

    def test_jsonReply(self) -> None:
        """C{metrics --json}: one object with the same families."""
        reply = self.client.json("metrics --json")
        self.assertTrue(reply["ok"])
        self.assertEqual(list(reply["metrics"]), list(FAMILIES))
