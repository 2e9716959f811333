"""Request latency for Prometheus: a histogram per route template (`/jobs/{job_id}`, never the raw path, so one
series per route rather than one per job), method and status class, kept by this web process (Heroku runs one a
dyno) and served with its other process metrics by GET /metrics.

A small ASGI middleware rather than prometheus-fastapi-instrumentator or starlette-exporter: both match the path
against every route again on each request, where this reads the route the router already chose
(`scope["route"]`), and keeps one histogram child per label set instead of looking it up each time."""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_SECONDS = Histogram(
    "handoff_http_request_duration_seconds",
    "Seconds from a request's arrival until its response was sent, by route template (`unmatched` when no route "
    "took it), method and status class (2xx, 3xx, 4xx, 5xx).",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

#: The route label of a request no route took (a 404, or a request refused before routing, such as a 413).
UNMATCHED = "unmatched"
#: Any other method is labelled `other`: a client may send any word as a method, and each would be a new series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # nothing was sent: an error escaped every handler, and the server answers 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        # The router writes the route it chose into the scope, which every layer shares.
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in METHODS else "other"
        labels = (route, method, f"{status // 100}xx")
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = REQUEST_SECONDS.labels(*labels)
        series.observe(seconds)
