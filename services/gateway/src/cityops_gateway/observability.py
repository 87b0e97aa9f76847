"""HTTP RED metrics, as plain ASGI middleware (safe for streaming responses).

The server span is OpenTelemetry's ASGI middleware's (when tracing is on); this one only names it
after the matched route once routing is done (``GET /open311/v2/requests.json``), which the ASGI
middleware cannot know when it starts the span.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityops_platform import tracing

HTTP_REQUESTS = Counter(
    "cityops_gateway_http_requests_total", "HTTP requests served, by route and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cityops_gateway_http_request_duration_seconds",
    "Time to the response headers",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class ObservabilityMiddleware:
    """Counts and times requests; names the active server span after the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                route = _route(scope)
                HTTP_LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
                # Routed by now, and the server span is still open (it ends with the last body chunk).
                if tracing.enabled():
                    span = trace.get_current_span()
                    if span.is_recording():
                        span.update_name(f"{scope['method']} {route}")
                        span.set_attribute("http.route", route)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            HTTP_REQUESTS.labels(scope["method"], _route(scope), str(status["code"])).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths are bucketed, so a scanner cannot explode the label cardinality.
    return str(path) if path else "unmatched"
