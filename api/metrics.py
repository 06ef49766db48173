"""`GET /metrics` in Prometheus's text format, and the request metrics behind it (ADR 0020).

Requests are counted by route template (never the raw path, so ids do not explode the series)
in a pure ASGI middleware. Ledger movements are read from the ledger itself when scraped, so
they include the worker's movements and agree whichever API process answers.
"""

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.routing import BaseRoute, Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import AppState
from core import metrics
from core.db import unit_of_work
from domain import health

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

log = logging.getLogger(__name__)


def route_templates(routes: Sequence[BaseRoute]) -> list[tuple[BaseRoute, Any, str]]:
    """(the route a matched request's scope names, what matches a scope, its path template)
    for every route, included routers' routes with their prefixes."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before included-router contexts: routes hold full paths
        return [(r, r, str(getattr(r, "path", ""))) for r in routes]
    return [(c.original_route, c, str(c.path_format)) for c in contexts(routes)]


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router
        self._table: list[tuple[BaseRoute, Any, str]] | None = None
        self._by_route: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = self._template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        """The matched route's path template; requests refused before routing (429) are
        matched here; anything unknown is one `unmatched` series."""
        if self._table is None:  # every route is registered by the first request
            self._table = route_templates(self.router.routes)
            self._by_route = {id(route): template for route, _, template in self._table}
        if (route := scope.get("route")) is not None and id(route) in self._by_route:
            return self._by_route[id(route)]
        for _, matcher, template in self._table:
            if matcher.matches(scope)[0] is not Match.NONE:
                return template
        return "unmatched"


class LedgerMovements(Collector):
    """Movements per tx_type, read incrementally: ledger entries are appended in sequence order
    under the chain lock, so a cursor over the sequence misses none."""

    def __init__(self) -> None:
        self.after = 0
        self.counts: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, state: AppState) -> None:
        async with self._lock, unit_of_work(state.sessions) as session:
            self.after, new = await health.ledger_movements(session, self.after)
        for tx_type, count in new.items():
            self.counts[tx_type] = self.counts.get(tx_type, 0) + count

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "agentchains_ledger_movements",
            "Ledger movements recorded, by tx_type",
            labels=["tx_type"],
        )
        for tx_type, count in sorted(self.counts.items()):
            family.add_metric([tx_type], count)
        yield family


def install(app: FastAPI) -> None:
    """Count every request (outermost but for the proxy headers) and serve `GET /metrics`."""
    app.add_middleware(MetricsMiddleware, router=app.router)
    movements = LedgerMovements()

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        state: AppState = request.app.state.services
        try:
            await movements.refresh(state)
        except Exception:  # a database that is down must not take the other metrics with it
            log.warning("metrics: ledger movements not refreshed", exc_info=True)
        ledger = CollectorRegistry()
        ledger.register(movements)
        body = metrics.exposition() + generate_latest(ledger)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
