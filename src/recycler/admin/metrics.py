# -*- test-case-name: tests.admin.test_metrics -*-
"""The pool's counters as Prometheus metric families, built by one collector.

L{PoolCollector} turns one L{PoolStats} snapshot into the families; the admin
C{metrics} command and the HTTP C{/metrics} page (L{recycler.admin.http}) both
serve it through a private C{CollectorRegistry} and C{prometheus_client}'s own
exposition, so the two always carry the same families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from recycler.admin.render import phaseCounts
from recycler.master.stats import PoolStats

_LABELS = {
    "recycler_recycles_total": "reason",
    "recycler_workers": "state",
    "recycler_worker_requests_total": "worker",
}
"""The label of each labelled family, by its exposed name."""


class PoolCollector(Collector):
    """The pool's metric families, from a fresh L{PoolStats} at each collection."""

    def __init__(self, stats: Callable[[], PoolStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Every family, in a stable order (the documented one)."""
        stats = self._stats()
        yield from _counters(stats)
        yield _labelled(
            CounterMetricFamily,
            "recycler_recycles_total",
            "Workers that exited, by why they were recycled.",
            sorted(stats.recycles.items()),
        )
        yield _labelled(
            GaugeMetricFamily,
            "recycler_workers",
            "Live workers by state.",
            phaseCounts(stats).items(),
        )
        yield GaugeMetricFamily("recycler_workers_target", "Workers the pool keeps.", stats.target)
        yield GaugeMetricFamily(
            "recycler_requests_in_flight", "Requests in progress in all workers.", stats.inFlight
        )
        yield GaugeMetricFamily(
            "recycler_uptime_seconds", "Seconds since the pool started.", stats.uptime
        )
        yield GaugeMetricFamily(
            "recycler_crash_streak",
            "Consecutive workers that failed to start (0: not backing off).",
            stats.crashStreak,
        )
        yield HistogramMetricFamily(
            "recycler_worker_startup_seconds",
            "Seconds from a worker's spawn until it was ready to serve.",
            [(floatToGoString(bound), count) for bound, count in stats.startups.cumulative()],
            stats.startups.sum,
        )
        yield _labelled(
            CounterMetricFamily,
            "recycler_worker_requests_total",
            "Requests completed by each live worker (rate() gives its request rate).",
            [(str(workerId), served) for workerId, served in sorted(stats.servedByWorker.items())],
        )
        yield from _forkServer(stats)


def _counters(stats: PoolStats) -> Iterator[Metric]:
    """The pool's unlabelled totals, monotonic across recycling."""
    for name, help, value in [
        ("recycler_workers_born_total", "Workers spawned.", stats.born),
        ("recycler_workers_exited_total", "Workers that exited.", stats.exited),
        ("recycler_workers_killed_total", "Workers ended with SIGKILL.", stats.killed),
        (
            "recycler_requests_served_total",
            "Requests completed by all workers, exited ones included.",
            stats.served,
        ),
        (
            "recycler_spawn_failures_total",
            "Workers that could not be started.",
            stats.spawnFailures,
        ),
    ]:
        yield CounterMetricFamily(name, help, value)


def _labelled(
    kind: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    help: str,
    samples: Iterable[tuple[str, float]],
) -> Metric:
    """A family with one label (L{_LABELS}), one sample per C{(label value, value)}."""
    family = kind(name, help, labels=[_LABELS[name]])
    for labelValue, value in samples:
        family.add_metric([labelValue], value)
    return family


def _forkServer(stats: PoolStats) -> Iterator[Metric]:
    """With C{--spawn fork}: whether the fork server can fork, and how often it was replaced."""
    status = stats.forkServer
    if status is None:
        return
    yield GaugeMetricFamily(
        "recycler_fork_server_up", "1 while workers can be forked.", int(status.ready)
    )
    yield CounterMetricFamily(
        "recycler_fork_server_restarts_total",
        "Fork servers started after the first (deaths and reloads).",
        status.restarts,
    )


def poolRegistry(stats: Callable[[], PoolStats]) -> CollectorRegistry:
    """A private registry (never the global one) holding only a L{PoolCollector}."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PoolCollector(stats))
    return registry


def metricsLines(stats: PoolStats) -> list[str]:
    """The families of C{stats} in the Prometheus text format (0.0.4), one line each."""
    return generate_latest(poolRegistry(lambda: stats)).decode("utf-8").splitlines()


def metricsFields(stats: PoolStats) -> dict[str, Any]:
    """
    The same families as a JSON-ready mapping by exposed name: a number, a
    label value to number for a labelled family, and for the histogram
    C{{"buckets": {bound: cumulative count}, "count": N, "sum": seconds}}.
    """
    fields: dict[str, Any] = {}
    for family in PoolCollector(lambda: stats).collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        if family.type == "histogram":
            fields[name] = _histogramFields(family)
        elif name in _LABELS:
            label = _LABELS[name]
            fields[name] = {s.labels[label]: s.value for s in family.samples}
        else:
            [sample] = family.samples
            fields[name] = sample.value
    return fields


def _histogramFields(family: Metric) -> dict[str, Any]:
    fields: dict[str, Any] = {"buckets": {}}
    for sample in family.samples:
        if sample.name.endswith("_bucket"):
            fields["buckets"][sample.labels["le"]] = sample.value
        else:
            fields[sample.name.rpartition("_")[2]] = sample.value
    return fields
