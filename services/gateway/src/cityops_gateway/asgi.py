"""The gateway's ASGI application: console, JSON API, SSE, Open311, OpenAPI, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cityops_gateway import health
from cityops_gateway.capfeed.routes import ROUTES as CAP_FEED_ROUTES
from cityops_gateway.clients import ServiceClients, ServiceTokens, UpstreamError
from cityops_gateway.config import STATIC_DIR, GatewayConfig
from cityops_gateway.console.aftercare import ROUTES as AFTERCARE_ROUTES
from cityops_gateway.console.api import ROUTES as CONSOLE_ROUTES
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
from cityops_gateway.sta.routes import ROUTES as STA_ROUTES
from cityops_gateway.state import GatewayState, gateway_state
from cityops_gateway.users import UserDirectory
from cityops_gateway.web import ApiError, bearer_token, unauthenticated
from cityops_platform import auth
from cityops_platform.settings import Settings

CLOSE: dict[str, Any] = {"kind": "_close"}


def _sse(event: str, data: Any, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def events(request: Request) -> Response:
    """Server-Sent Events: every event of the followed topics, as JSON, until the screen leaves."""
    state = gateway_state(request)
    try:
        state.codec.verify(bearer_token(request))
    except auth.AuthError as exc:
        raise unauthenticated(exc) from None
    hub = state.hub
    if hub is None:
        raise ApiError(503, "unavailable", "luồng sự kiện chưa sẵn sàng (event stream not started)")
    sub = hub.subscribe()
    heartbeat = state.config.sse_heartbeat_seconds

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
                yield _sse(event["kind"], {"type": event["type"], "data": event["data"]}, event.get("id"))
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    return ApiError.from_upstream(exc).response()


def build_state(settings: Settings, config: GatewayConfig | None = None) -> GatewayState:
    config = config or GatewayConfig()
    codec = auth.TokenCodec.from_settings(settings)
    return GatewayState(
        settings=settings,
        config=config,
        codec=codec,
        users=UserDirectory.for_environment(config.users_file, settings),
        catalog=ServiceCatalog.load(config.open311_services_file),
        api_keys=config.api_keys(settings),
        service_tokens=ServiceTokens(codec),
        gazetteer=Gazetteer.load(config.open311_gazetteer_file),
        endpoint=Endpoint.load(config.open311_endpoint_file, jurisdiction_override=config.open311_jurisdiction_id),
    )


def create_web_app(
    settings: Settings, config: GatewayConfig | None = None, *, follow_events: bool = True
) -> Starlette:
    """The Starlette app; ``follow_events=False`` skips Kafka (for tests of the HTTP surface only)."""
    state = build_state(settings, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.clients_ = ServiceClients(settings)
        if follow_events:
            state.hub = EventHub(settings, queue_size=state.config.sse_queue_size)
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
        Route("/livez", health.livez),
        Route("/readyz", health.readyz),
        Route("/healthz", health.healthz),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/events", events),
        *CONSOLE_ROUTES,
        *AFTERCARE_ROUTES,
        *RATING_ROUTES,  # before Open311's catch-all 404 under /open311
        *OPEN311_ROUTES,
        *CAP_FEED_ROUTES,
        *STA_ROUTES,
        *NGSILD_ROUTES,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ObservabilityMiddleware)],
        exception_handlers={ApiError: _api_error, UpstreamError: _upstream_error},
        lifespan=lifespan,
    )
    app.state.gateway = state
    app.state.openapi = extend_openapi(build_openapi())
    return app
