"""The gateway's ASGI application: console, JSON API, SSE, Open311, OpenAPI, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import html
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cityops_gateway import health
from cityops_gateway.capfeed.routes import ROUTES as CAP_FEED_ROUTES
from cityops_gateway.city.routes import ROUTES as CITY_ROUTES
from cityops_gateway.clients import ServiceClients, ServiceTokens, UpstreamError
from cityops_gateway.console.aftercare import ROUTES as AFTERCARE_ROUTES
from cityops_gateway.console.alerts import ROUTES as ALERT_ROUTES
from cityops_gateway.console.api import ROUTES as CONSOLE_ROUTES
from cityops_gateway.console.dispatch import ROUTES as DISPATCHER_ROUTES
from cityops_gateway.console.intake import ROUTES as INTAKE_ROUTES
from cityops_gateway.events.filters import CONTROL_KINDS, StreamLimiter, allowed_kinds
from cityops_gateway.events.hub import EventHub
from cityops_gateway.ngsild.routes import ROUTES as NGSILD_ROUTES
from cityops_gateway.observability import ObservabilityMiddleware
from cityops_gateway.open311.catalog import ServiceCatalog
from cityops_gateway.open311.endpoint import Endpoint
from cityops_gateway.open311.gazetteer import Gazetteer
from cityops_gateway.open311.routes import ROUTES as OPEN311_ROUTES
from cityops_gateway.openapi import build_openapi
from cityops_gateway.openapi_interop import extend as extend_openapi
from cityops_gateway.ratings import ROUTES as RATING_ROUTES
from cityops_gateway.security import SecurityMiddleware, content_security_policy, tile_origin
from cityops_gateway.settings import STATIC_DIR, GatewaySettings
from cityops_gateway.sta.routes import ROUTES as STA_ROUTES
from cityops_gateway.state import GatewayState, gateway_state
from cityops_gateway.throttle import LoginThrottle, RateLimiter
from cityops_gateway.users import UserDirectory
from cityops_gateway.web import ApiError, bearer_token, unauthenticated
from cityops_platform import auth, tracing
from cityops_platform.city import current_city
from cityops_platform.geo.admin_units import admin_units
from cityops_platform.settings import Settings

CLOSE: dict[str, Any] = {"kind": "_close"}


def _sse(event: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def events(request: Request) -> Response:
    """Server-Sent Events: the events the caller's roles may see (events.filters), until the screen leaves."""
    state = gateway_state(request)
    token = bearer_token(request)
    try:
        principal = state.codec.verify(token)
    except auth.AuthError as exc:
        raise unauthenticated(exc) from None
    kinds = allowed_kinds(principal.roles)
    if not kinds:
        raise ApiError(403, "permission_denied",
                       "vai trò này không được xem luồng điều hành (this role has no operations stream)")
    hub = state.hub
    if hub is None:
        raise ApiError(503, "unavailable", "luồng sự kiện chưa sẵn sàng (event stream not started)")
    stream_key = f"{principal.subject}:{principal.token_id or hashlib.sha256(token.encode()).hexdigest()}"
    if not state.sse_streams.acquire(stream_key):
        raise ApiError(429, "resource_exhausted",
                       f"quá nhiều luồng sự kiện cho token này, tối đa {state.sse_streams.limit} "
                       f"(too many live streams for this token)", headers={"Retry-After": "5"})
    try:
        sub = hub.subscribe()
    except BaseException:
        state.sse_streams.release(stream_key)
        raise
    wanted = kinds | CONTROL_KINDS
    heartbeat = state.gateway_settings.sse_heartbeat_seconds

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            yield _sse("hello", {"ready": hub.ready.is_set(), "server_time": time.time()})
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    yield f": ping {int(time.time())}\n\n"
                    continue
                if event is CLOSE:
                    return
                if event["kind"] not in wanted:
                    continue
                yield _sse(event["kind"], {"type": event["type"], "data": event["data"]}, event.get("id"))
        finally:
            hub.unsubscribe(sub)
            state.sse_streams.release(stream_key)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )




async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


@functools.cache
def _index_page() -> str:
    """The console page with the city's title (city.yaml ``branding.title``) filled in."""
    city = current_city()
    titles = json.dumps(dict(city.branding.title), ensure_ascii=False)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return (page.replace("{{city_titles}}", html.escape(titles, quote=True))
            .replace("{{city_timezone}}", html.escape(city.timezone, quote=True))
            .replace("{{city_title}}", html.escape(city.text(city.branding.title))))


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(_index_page(), headers={"Cache-Control": "no-cache"})


async def service_worker(request: Request) -> FileResponse:
    """The console's service worker, at the root so its scope is the whole console."""
    return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    return ApiError.from_upstream(exc).response()


def build_state(settings: Settings, gateway_settings: GatewaySettings | None = None) -> GatewayState:
    own = gateway_settings or GatewaySettings()
    codec = auth.TokenCodec.from_settings(settings)
    return GatewayState(
        settings=settings,
        gateway_settings=own,
        codec=codec,
        users=UserDirectory.for_environment(own.users_file, settings),
        catalog=ServiceCatalog.load(own.open311_services_file),
        api_keys=own.api_keys(settings),
        service_tokens=ServiceTokens(codec),
        gazetteer=Gazetteer.load(own.open311_gazetteer_file, admin_units()),
        endpoint=Endpoint.load(own.open311_endpoint_file, jurisdiction_override=own.open311_jurisdiction_id),
        login_throttle=LoginThrottle(
            user_threshold=own.login_max_failures_user, address_threshold=own.login_max_failures_address,
            base_seconds=own.login_lockout_seconds, max_seconds=own.login_lockout_max_seconds),
        open311_reads=RateLimiter(per_minute=own.open311_anonymous_reads_per_minute,
                                  burst=own.open311_anonymous_read_burst),
        sse_streams=StreamLimiter(own.sse_max_streams_per_token),
    )


def create_web_app(
    settings: Settings, gateway_settings: GatewaySettings | None = None, *, follow_events: bool = True
) -> Starlette:
    """The Starlette app; ``follow_events=False`` skips Kafka (for tests of the HTTP surface only)."""
    state = build_state(settings, gateway_settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.clients_ = ServiceClients(settings)
        if follow_events:
            state.hub = EventHub(settings, queue_size=state.gateway_settings.sse_queue_size)
            state.hub.start()
        try:
            yield
        finally:
            if state.hub is not None:
                state.hub.close_subscribers(CLOSE)
                await state.hub.stop()
            await state.clients.close()

    routes = [
        Route("/", index),
        Route("/sw.js", service_worker),
        Route("/livez", health.livez),
        Route("/readyz", health.readyz),
        Route("/healthz", health.healthz),
        Route("/openapi.json", openapi),
        Route("/api/events", events),
        *INTAKE_ROUTES,  # before the console's /api/incidents/{incident_id}
        *CONSOLE_ROUTES,
        *DISPATCHER_ROUTES,
        *CITY_ROUTES,
        *AFTERCARE_ROUTES,
        *ALERT_ROUTES,
        *RATING_ROUTES,  # before Open311's catch-all 404 under /open311
        *OPEN311_ROUTES,
        *CAP_FEED_ROUTES,
        *STA_ROUTES,
        *NGSILD_ROUTES,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # The HTTP server span (OpenTelemetry's ASGI middleware) when tracing is on: outermost.
            *(Middleware(cls, **options) for cls, options in tracing.asgi_middleware()),
            Middleware(SecurityMiddleware, max_body_bytes=state.gateway_settings.max_body_bytes,
                       csp=content_security_policy(tile_origin(state.gateway_settings.map_tile_url)),
                       hsts=settings.environment != "local"),
            Middleware(ObservabilityMiddleware),
        ],
        exception_handlers={ApiError: _api_error, UpstreamError: _upstream_error},
        lifespan=lifespan,
    )
    app.state.gateway = state
    app.state.openapi = extend_openapi(build_openapi())
    return app
