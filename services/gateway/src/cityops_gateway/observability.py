"""HTTP RED metrics and server spans, as plain ASGI middleware (safe for streaming responses)."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "cityops_gateway_http_requests_total", "HTTP requests served, by route and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cityops_gateway_http_request_duration_seconds",
    "Time to the response headers",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_tracer = trace.get_tracer("cityops.gateway.http")


class ObservabilityMiddleware:
    """Continues the caller's ``traceparent``, opens a server span, counts and times requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        context: Any = propagate.extract(carrier)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                HTTP_LATENCY.labels(scope["method"], _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        name = f"HTTP {scope['method']}"
        with _tracer.start_as_current_span(name, context=context, kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = _route(scope)
                span.update_name(f"{name} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status["code"])
                HTTP_REQUESTS.labels(scope["method"], route, str(status["code"])).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths are bucketed, so a scanner cannot explode the label cardinality.
    return str(path) if path else "unmatched"
