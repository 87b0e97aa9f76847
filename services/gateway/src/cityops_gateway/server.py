"""``cityops serve gateway``: uvicorn on ``http_host:http_port`` with a graceful shutdown.

On SIGTERM/SIGINT the live event streams are told to end first (they never end on their own),
then uvicorn stops accepting, lets in-flight requests finish for up to ``grpc_drain_seconds``,
and the lifespan closes the Kafka consumer and the gRPC channels.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType

import uvicorn

from cityops_gateway.asgi import CLOSE, create_web_app
from cityops_gateway.settings import GatewaySettings
from cityops_platform.logging import configure_logging
from cityops_platform.metrics import start_metrics_server
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

log = logging.getLogger("cityops.gateway")


class _DrainingServer(uvicorn.Server):
    """uvicorn.Server that ends the SSE streams as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, loop: asyncio.AbstractEventLoop, app: object) -> None:
        super().__init__(config)
        self._loop = loop
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        hub = self._app.state.gateway.hub  # type: ignore[attr-defined]
        if hub is not None:
            self._loop.call_soon_threadsafe(hub.close_subscribers, CLOSE)
        super().handle_exit(sig, frame)


async def serve(settings: Settings) -> None:
    """Run the gateway until SIGTERM/SIGINT, then drain."""
    settings.require_signing_key()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway")
    app = create_web_app(settings, GatewaySettings())
    # /metrics is not on the public port: its own port, like every other service's.
    start_metrics_server(settings.service_metrics_port("gateway"))
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our JSON logging is already configured
        access_log=False,  # the middleware's metrics cover requests
        timeout_graceful_shutdown=max(1, int(settings.grpc_drain_seconds)),
        proxy_headers=True,
    )
    server = _DrainingServer(config, asyncio.get_running_loop(), app)
    log.info("gateway listening", extra={"host": settings.http_host, "port": settings.http_port})
    await server.serve()
