"""Tests of L{recycler.admin.http}: the monitoring port's pages, over an in-memory HTTP channel."""

from __future__ import annotations

import json

import attrs
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin.http import monitoringSite
from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.service import RecyclerService
from recycler.master.spawn import WorkerCommand
from recycler.testing import FakeProcessReactor
from tests.admin.support import FakePool

OPENMETRICS = b"application/openmetrics-text; version=1.0.0; charset=utf-8"


@attrs.frozen
class Response:
    """One HTTP response, as the bytes on the wire say."""

    code: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> dict[str, object]:
        return json.loads(self.body)


class HTTPTestCase(SynchronousTestCase):
    """The monitoring site over a fake pool whose L{stats} a test sets."""

    def setUp(self) -> None:
        self.stats = FakePool().stats()  # target 2: 1 ready, 1 draining
        self.site = monitoringSite(lambda: self.stats, Clock())

    def request(self, method: bytes, path: bytes, headers: bytes = b"") -> Response:
        """Send one request on a new connection; parse the response."""
        protocol = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(
            b"%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n"
            % (method, path, headers)
        )
        head, _, body = transport.value().partition(b"\r\n\r\n")
        status, *lines = head.split(b"\r\n")
        fields = dict(line.split(b": ", 1) for line in lines)
        return Response(int(status.split()[1]), {k.lower(): v for k, v in fields.items()}, body)

    def get(self, path: bytes, headers: bytes = b"") -> Response:
        return self.request(b"GET", path, headers)

    def health(self, ready: int, target: int = 2, starting: int = 0) -> None:
        self.stats = attrs.evolve(self.stats, ready=ready, target=target, starting=starting)


class MetricsPageTests(HTTPTestCase):
    """C{/metrics}: the collector's families, as the scraper asks for them."""

    def test_prometheusText(self) -> None:
        """Plain Prometheus text (0.0.4) by default, parseable, with every family."""
        response = self.get(b"/metrics")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers[b"content-type"], CONTENT_TYPE_PLAIN_0_0_4.encode())
        families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
        self.assertEqual(families["recycler_workers_born"].samples[0].value, 7)
        self.assertEqual(families["recycler_worker_startup_seconds"].type, "histogram")
        self.assertIn("recycler_worker_requests", families)

    def test_eachScrapeIsFresh(self) -> None:
        """The numbers come from the pool at each request."""
        self.health(ready=2, target=5)
        self.assertIn(b"\nrecycler_workers_target 5.0\n", self.get(b"/metrics").body)

    def test_openMetricsWhenAsked(self) -> None:
        """Prometheus asks for OpenMetrics in its C{Accept} header, and gets it."""
        response = self.get(b"/metrics", b"Accept: " + OPENMETRICS + b"\r\n")
        self.assertEqual(response.code, 200)
        self.assertTrue(response.headers[b"content-type"].startswith(OPENMETRICS))
        self.assertTrue(response.body.endswith(b"# EOF\n"))

    def test_onlyGetAndHead(self) -> None:
        """Other methods get 405; HEAD gets the headers alone."""
        post = self.request(b"POST", b"/metrics")
        self.assertEqual((post.code, post.headers[b"allow"]), (405, b"GET, HEAD"))
        self.assertEqual(post.body, b"method not allowed: /metrics takes GET or HEAD\n")
        with capturedLogs() as events:
            head = self.request(b"HEAD", b"/healthz")
        self.assertEqual((head.code, head.body), (200, b""))
        self.assertEqual(
            head.headers[b"content-length"], str(len(self.get(b"/healthz").body)).encode()
        )
        self.assertEqual(events, [], "no 'HEAD request ... I'll eat it' warning per probe")


class HealthPageTests(HTTPTestCase):
    """C{/healthz} wants one ready worker, C{/readyz} the whole target."""

    def test_healthyWithOneReadyWorker(self) -> None:
        """One of two ready: healthy (200), not ready (503); both say so in JSON."""
        self.health(ready=1, target=2)
        health, ready = self.get(b"/healthz"), self.get(b"/readyz")
        self.assertEqual((health.code, ready.code), (200, 503))
        self.assertEqual(health.headers[b"content-type"], b"application/json")
        self.assertEqual(
            health.json(),
            {"status": "ok", "target": 2, "ready": 1, "starting": 0, "draining": 1},
        )
        self.assertEqual(ready.json()["status"], "unavailable")

    def test_noReadyWorker(self) -> None:
        """While the first workers start, both answer 503 with the counts."""
        self.health(ready=0, target=2, starting=2)
        response = self.get(b"/healthz")
        self.assertEqual(response.code, 503)
        self.assertEqual(
            response.json(),
            {"status": "unavailable", "target": 2, "ready": 0, "starting": 2, "draining": 1},
        )
        self.assertEqual(self.get(b"/readyz").code, 503)

    def test_fullCapacity(self) -> None:
        """As many ready workers as the target (or more, while recycling): both 200."""
        for ready in (2, 3):
            self.health(ready=ready, target=2)
            self.assertEqual((self.get(b"/healthz").code, self.get(b"/readyz").code), (200, 200))
            self.assertEqual(self.get(b"/readyz").json()["status"], "ok")

    def test_notCached(self) -> None:
        """A cache between the probe and the master must not answer for it."""
        self.assertEqual(self.get(b"/healthz").headers[b"cache-control"], b"no-store")


class RoutingTests(HTTPTestCase):
    """Anything else is a short plain-text answer, and nothing is logged per request."""

    def test_unknownPathsAreA404NamingThePages(self) -> None:
        """One line saying what exists, for any method."""
        for method, path in [(b"GET", b"/nope"), (b"GET", b"/metrics/x"), (b"POST", b"/x")]:
            response = self.request(method, path)
            self.assertEqual(response.code, 404, path)
            self.assertEqual(response.headers[b"content-type"], b"text/plain; charset=utf-8")
            self.assertEqual(
                response.body, b"not found: " + path + b" (try /metrics, /healthz, /readyz)\n"
            )

    def test_rootIndex(self) -> None:
        """C{/} lists the pages."""
        self.assertEqual(self.get(b"/").body, b"recycler monitoring: /metrics /healthz /readyz\n")

    def test_noAccessLog(self) -> None:
        """Scrapes every few seconds would flood the master's log: nothing is logged."""
        self.site.doStart()
        self.addCleanup(self.site.doStop)
        with capturedLogs() as events:
            self.get(b"/metrics")
            self.get(b"/nope")
        self.assertEqual(events, [])


class RecordingPort:
    """A listening port that records being closed."""

    def __init__(self, port: int) -> None:
        self.address = IPv4Address("TCP", "127.0.0.1", port)
        self.closed = False

    def getHost(self) -> IPv4Address:
        return self.address

    def stopListening(self) -> None:
        self.closed = True


class ServiceTests(SynchronousTestCase):
    """The master binds the monitoring port after its sockets, and closes it with them."""

    def test_boundAfterTheSocketsClosedWithThem(self) -> None:
        """C{metrics-listening} is logged with the port; stopping closes it."""
        reactor = FakeProcessReactor()
        ports: list[RecordingPort] = []

        def listenTCP(port: int, factory: object, backlog: int = 50, interface: str = ""):
            ports.append(RecordingPort(port))
            return ports[-1]

        reactor.listenTCP = listenTCP  # type: ignore[method-assign]
        listeners = _NoListeners()
        pool = WorkerPool(reactor, WorkerCommand("/py", [], {}, listeners), PoolConfig(target=1))
        site = monitoringSite(pool.stats, reactor)
        service = RecyclerService(
            reactor, listeners, pool, installSignals=None, metrics=("tcp:9100", site)
        )
        with capturedLogs() as events:
            service.startService()
        [listening] = [e for e in events if e.get("event") == "metrics-listening"]
        self.assertEqual((listening["port"], [p.address.port for p in ports]), (9100, [9100]))
        reactor.processes[0].exit()
        self.successResultOf(service.stopService())
        self.assertTrue(ports[0].closed)


class _NoListeners:
    """Shared sockets that bind and close at once."""

    def listen(self) -> object:
        return succeed([])

    def filenos(self) -> list[int]:
        return [7]

    def close(self) -> object:
        return succeed(None)
