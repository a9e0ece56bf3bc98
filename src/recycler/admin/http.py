# -*- test-case-name: tests.admin.test_http -*-
"""The master's monitoring port (C{--metrics}): Prometheus metrics and health over HTTP.

- C{/metrics}: the families of L{recycler.admin.metrics}, in the format the
  scraper asks for (Prometheus text, or OpenMetrics), through C{prometheus_client};
- C{/healthz}: 200 while at least one worker is ready, else 503 (a liveness or
  load-balancer check: the master can serve);
- C{/readyz}: 200 only at full capacity (as many ready workers as the target).

Both health pages answer a short JSON object of the counts. The port only reads
the pool: nothing a client sends can change it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from recycler.admin.metrics import poolRegistry
from recycler.master.stats import PoolStats

PATHS = ("/metrics", "/healthz", "/readyz")
"""What the port serves."""


class _Page(Resource, ABC):
    """A page at one path, for C{GET} and C{HEAD}: anything below it is not found."""

    isLeaf = True

    def render(self, request: Request) -> bytes:
        if request.postpath:
            return _notFound(request)
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader("allow", "GET, HEAD")
            return _plain(request, 405, f"method not allowed: {_path(request)} takes GET or HEAD")
        request.setHeader("cache-control", "no-store")
        body = self.page(request)
        if request.method == b"HEAD":  # a body here makes twisted.web log a warning
            request.setHeader("content-length", str(len(body)))
            return b""
        return body

    @abstractmethod
    def page(self, request: Request) -> bytes:
        """The body, with the response code and headers set."""


class MetricsPage(_Page):
    """C{/metrics}: the registry's families, encoded as the C{Accept} header asks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def page(self, request: Request) -> bytes:
        encoder, contentType = choose_encoder(request.getHeader("accept") or "")
        request.setHeader("content-type", contentType)
        return encoder(self._registry)


class HealthPage(_Page):
    """
    C{/healthz} or C{/readyz}: 200 when the pool has C{enough} ready workers,
    503 otherwise; the body is C{{"status", "target", "ready", "starting",
    "draining"}} as JSON.
    """

    def __init__(self, stats: Callable[[], PoolStats], enough: Callable[[PoolStats], bool]) -> None:
        super().__init__()
        self._stats = stats
        self._enough = enough

    def page(self, request: Request) -> bytes:
        stats = self._stats()
        healthy = self._enough(stats)
        request.setResponseCode(200 if healthy else 503)
        request.setHeader("content-type", "application/json")
        body = {
            "status": "ok" if healthy else "unavailable",
            "target": stats.target,
            "ready": stats.ready,
            "starting": stats.starting,
            "draining": stats.draining,
        }
        return json.dumps(body).encode() + b"\n"


class MonitoringRoot(_Page):
    """The port's root: a one-line index at C{/}, the pages, and a plain 404 for the rest."""

    isLeaf = False

    def __init__(self, stats: Callable[[], PoolStats]) -> None:
        super().__init__()
        self.putChild(b"metrics", MetricsPage(poolRegistry(stats)))
        self.putChild(b"healthz", HealthPage(stats, lambda s: s.ready >= 1))
        self.putChild(b"readyz", HealthPage(stats, lambda s: s.ready >= s.target))

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self if path == b"" else _Missing()

    def page(self, request: Request) -> bytes:
        return _plain(request, 200, f"recycler monitoring: {' '.join(PATHS)}")


class _Missing(Resource):
    """Any path the port does not serve."""

    isLeaf = True

    def render(self, request: Request) -> bytes:
        return _notFound(request)


def _notFound(request: Request) -> bytes:
    return _plain(request, 404, f"not found: {_path(request)} (try {', '.join(PATHS)})")


def _path(request: Request) -> str:
    return request.path.decode("utf-8", "replace")


def _plain(request: Request, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader("content-type", "text/plain; charset=utf-8")
    return text.encode() + b"\n"


class MonitoringSite(Site):
    """A twisted.web site without an access log (a scrape every few seconds would fill it)."""

    noisy = False

    def log(self, request: Request) -> None:
        """Log nothing per request."""


def monitoringSite(stats: Callable[[], PoolStats], reactor: IReactorTime) -> Site:
    """The HTTP factory of the monitoring port, reading the pool through C{stats}."""
    return MonitoringSite(MonitoringRoot(stats), reactor=reactor, timeout=60)
