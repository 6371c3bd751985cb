"""Request counts and latencies of the web app, on its own `GET /metrics` (Prometheus text format), for the
holder of the metrics token only.

Labelled by method, route *template* (`/complaints/{complaint_id}`, never the path with an id in it) and status,
so the labels hold no personal data and their number stays bounded: a path that matches no route is `unmatched`,
an unexpected method `OTHER`. Each app has its own registry, so several apps in one process (tests) do not clash.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.codec_endpoint import bearer_matches

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WebMetrics:
    """The registry and its endpoint, which answers only the bearer of `token` (`COMPLAINTS_METRICS_TOKEN`):
    without a token configured `/metrics` is 404, as if it did not exist; a wrong or missing one is 401."""

    def __init__(self, token: SecretStr | None = None) -> None:
        secret = token.get_secret_value().strip() if token is not None else ""
        self.token = secret.encode() if secret else None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "complaints_web_requests",
            "HTTP requests answered by the web app, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "complaints_web_request_duration_seconds",
            "Time from receiving a request to the end of its response, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    async def endpoint(self, request: Request) -> Response:
        if self.token is None:
            raise HTTPException(404)
        if not bearer_matches(request, self.token):
            return PlainTextResponse("send the metrics token", 401, headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The matched route's path as declared (set by Starlette's router on the scope), else `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Outermost: counts every HTTP request, including refused ones and ones that fail with an error (500)."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            method = str(scope.get("method", "")).upper()
            self.metrics.observe(
                method if method in METHODS else "OTHER",
                route_template(scope),
                status,
                time.perf_counter() - started,
            )
