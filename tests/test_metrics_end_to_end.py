"""End-to-end: the monitoring port (--metrics) of a real server, scraped over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.harness import AdminClient, Server, waitUntil
from tests.processes import httpGet

METRICS = ("--metrics", "tcp:0:interface=127.0.0.1")

EXPECTED = {
    "recycler_workers_born": "counter",
    "recycler_requests_served": "counter",
    "recycler_recycles": "counter",
    "recycler_workers": "gauge",
    "recycler_workers_target": "gauge",
    "recycler_worker_startup_seconds": "histogram",
    "recycler_worker_requests": "counter",
}
"""Families every scrape has (counters named without C{_total}, as the parser gives them)."""


def metricsPort(server: Server) -> int:
    """The monitoring port the master bound, from its C{metrics-listening} event."""
    return server.waitFor(lambda _: [e["port"] for e in server.eventsOf("metrics-listening")])[0]


def fetch(port: int, path: str) -> tuple[int, str, bytes]:
    """C{GET path}: the status, the content type and the body, also for an error status."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def scrape(port: int) -> dict[str, tuple[str, list[Sample]]]:
    """Every family of C{/metrics}, parsed by C{prometheus_client}: type and samples by name."""
    code, contentType, body = fetch(port, "/metrics")
    assert (code, contentType) == (200, "text/plain; version=0.0.4; charset=utf-8")
    families = text_string_to_metric_families(body.decode())
    return {family.name: (family.type, family.samples) for family in families}


def probe(port: int, path: str) -> tuple[int, dict[str, object]]:
    """A health page's status and JSON body."""
    code, contentType, body = fetch(port, path)
    assert contentType == "application/json"
    return code, json.loads(body)


def value(samples: list[Sample], name: str, **labels: str) -> float:
    [sample] = [s for s in samples if s.name == name and s.labels == labels]
    return sample.value


def test_scrapeMetricsAndTheAdminCommand(startServer):
    """/metrics parses, has every family, the start-up histogram and per-worker counters;
    the admin C{metrics} reply (minus C{ok}) parses to the same families."""
    server = startServer("--workers", "2", "--ttl", "off", "--app", "recycler.demo:hello", *METRICS)
    port = metricsPort(server)
    server.waitReady(2)
    for _ in range(6):
        assert httpGet(server.port) == b"hello\n"

    def served() -> dict[str, tuple[str, list[Sample]]] | None:
        families = scrape(port)
        perWorker = families["recycler_worker_requests"][1]
        return families if sum(s.value for s in perWorker) == 6 else None

    families = waitUntil(served, 10, "the workers to report their 6 requests")
    assert {name: families[name][0] for name in EXPECTED} == EXPECTED
    samples = families["recycler_worker_requests"][1]
    assert {s.labels["worker"] for s in samples} == {"1", "2"}
    assert value(families["recycler_requests_served"][1], "recycler_requests_served_total") == 6
    startup = families["recycler_worker_startup_seconds"][1]
    buckets = [s for s in startup if s.name.endswith("_bucket")]
    assert [s.labels["le"] for s in buckets][-1] == "+Inf"
    assert len(buckets) == 12
    assert value(startup, "recycler_worker_startup_seconds_count") == 2
    assert value(startup, "recycler_worker_startup_seconds_bucket", le="+Inf") == 2
    assert 0 < value(startup, "recycler_worker_startup_seconds_sum") < 20
    states = families["recycler_workers"][1]
    assert value(states, "recycler_workers", state="ready") == 2

    with AdminClient(server.adminPort) as admin:
        reply = admin.command("metrics")
    assert reply[-1] == "ok"
    adminFamilies = {f.name: f.type for f in text_string_to_metric_families("\n".join(reply[:-1]))}
    assert adminFamilies == {name: kind for name, (kind, _) in families.items()}


def test_probesFollowTheReadyWorkers(startServer, tmp_path: Path, monkeypatch):
    """/healthz is 503 while no worker is ready, 200 from the first; /readyz 200 only
    once every worker is (each worker's import waits for a ticket: tests.gated_app)."""
    monkeypatch.setenv("RECYCLER_TEST_GATE", str(tmp_path))
    server = startServer(
        "--workers", "2", "--ttl", "off", "--boot-timeout", "60",
        "--app", "tests.gated_app:hello", *METRICS,
    )  # fmt: skip
    port = metricsPort(server)

    def bothStarting() -> tuple[int, dict[str, object]] | None:
        code, body = probe(port, "/healthz")
        return (code, body) if body["starting"] == 2 else None

    code, body = waitUntil(bothStarting, 15, "two workers starting")
    assert (code, body) == (
        503,
        {"status": "unavailable", "target": 2, "ready": 0, "starting": 2, "draining": 0},
    )
    assert probe(port, "/readyz")[0] == 503

    (tmp_path / "ticket-1").touch()
    server.waitReady(1)
    assert probe(port, "/healthz") == (
        200,
        {"status": "ok", "target": 2, "ready": 1, "starting": 1, "draining": 0},
    )
    assert probe(port, "/readyz")[0] == 503

    (tmp_path / "ticket-2").touch()
    server.waitReady(2)
    assert probe(port, "/readyz") == (
        200,
        {"status": "ok", "target": 2, "ready": 2, "starting": 0, "draining": 0},
    )
    assert probe(port, "/healthz")[0] == 200
    code, _, body = fetch(port, "/nope")
    assert (code, body) == (404, b"not found: /nope (try /metrics, /healthz, /readyz)\n")


@pytest.mark.parametrize("endpoint", ["bogus:9100", "tcp:notaport"])
def test_badEndpointIsAUsageError(endpoint: str):
    """A bad --metrics is one error line naming the option, no traceback, nothing started."""
    result = subprocess.run(
        [sys.executable, "-m", "twisted", "recycler", "--metrics", endpoint],
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Error: --metrics: '{endpoint}' is not valid" in output
    assert "Traceback" not in output
