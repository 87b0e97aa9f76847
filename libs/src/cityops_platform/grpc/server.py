"""The gRPC aio server builder, shared by every service.

``create_server`` binds and starts (so a test can bind port 0 and talk over a real channel);
``serve_until_stopped`` runs it until SIGTERM/SIGINT and drains: health goes NOT_SERVING first,
so load balancers stop sending, then in-flight RPCs get ``drain_seconds`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from cityops_platform import auth, tracing
from cityops_platform.grpc.interceptors import ServerInterceptor

log = logging.getLogger("cityops.grpc")

# grpc.health.v1 service name of liveness: SERVING from start until the drain, whatever the
# dependencies say. The overall status ("") is readiness (set_serving). Kubernetes probes both.
LIVENESS_SERVICE = "liveness"


@dataclass(frozen=True)
class GrpcService:
    """One servicer to mount: its full name (for health and reflection) and its generated adder."""

    full_name: str
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    service_names: tuple[str, ...]

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float, *, linger: float = 0.0) -> None:
        """Drain: NOT_SERVING first, then let in-flight calls finish for up to ``grace`` s.

        ``linger``: seconds to keep serving after NOT_SERVING, so balancers and health watchers
        move away before calls are refused, and calls already received but not yet handed to a
        handler get one (grpc cancels those at stop: CANCELLED, although the client sent them first).
        """
        await self.health.enter_graceful_shutdown()
        if linger > 0:
            await asyncio.sleep(linger)
        await self.server.stop(grace)


async def create_server(
    address: str,
    *,
    services: Sequence[GrpcService],
    policy: auth.AccessPolicy,
    tokens: auth.TokenCodec,
    credentials: grpc.ServerCredentials | None = None,
    max_connection_age_s: float | None = None,
    max_connection_age_grace_s: float | None = None,
    reflection_enabled: bool = True,
    max_streams_per_principal: int = 4,
) -> RunningServer:
    """Build, bind and start a server with health, the CityOps interceptor and, when
    ``reflection_enabled`` (``Settings.reflection_enabled``: local only by default), reflection.

    ``max_connection_age_s``: each client connection gets a GOAWAY after this age (a client reconnects
    transparently and re-resolves its target, which is how new replicas receive calls); calls still in
    flight then have ``max_connection_age_grace_s`` to finish. None: connections live forever.
    """
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.so_reuseport", 0),
    ]
    if max_connection_age_s:
        options.append(("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)))
        if max_connection_age_grace_s is not None:
            options.append(("grpc.max_connection_age_grace_ms", int(max_connection_age_grace_s * 1000)))
    server = grpc.aio.server(
        # The tracing interceptor (none when tracing is off) runs first, so its span covers ours.
        interceptors=[*tracing.server_interceptors(),
                      ServerInterceptor(policy, tokens, max_streams_per_principal=max_streams_per_principal)],
        options=options,
    )
    for svc in services:
        svc.add_to_server(svc.servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = tuple(svc.full_name for svc in services)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
    port = (
        server.add_insecure_port(address)
        if credentials is None
        else server.add_secure_port(address, credentials)
    )
    if port == 0:
        raise OSError(f"could not bind gRPC server to {address}")
    await server.start()
    running = RunningServer(server=server, port=port, health=health, service_names=names)
    await health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await running.set_serving(True)
    log.info("gRPC server started", extra={"address": address, "port": port, "services": names,
                                              "reflection": reflection_enabled})
    return running


def server_credentials(
    cert_file: str | None, key_file: str | None, client_ca_file: str | None
) -> grpc.ServerCredentials | None:
    """TLS when a certificate is configured; mutual TLS when a client CA is configured too."""
    if not cert_file or not key_file:
        return None
    with open(cert_file, "rb") as cert, open(key_file, "rb") as key:
        pair = (key.read(), cert.read())
    root = None
    if client_ca_file:
        with open(client_ca_file, "rb") as ca:
            root = ca.read()
    return grpc.ssl_server_credentials(
        [pair], root_certificates=root, require_client_auth=root is not None
    )


async def serve_until_stopped(
    running: RunningServer,
    *,
    drain_seconds: float,
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    linger_seconds: float = 1.0,
) -> None:
    """Block until SIGTERM or SIGINT, then drain the server and run the ``on_stop`` hooks.

    Health turns NOT_SERVING, the server keeps serving for ``linger_seconds``, then refuses new
    calls and gives those in flight ``drain_seconds`` to finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: health NOT_SERVING, draining",
             extra={"grace_s": drain_seconds, "linger_s": linger_seconds})
    await running.stop(drain_seconds, linger=linger_seconds)
    for hook in on_stop:
        try:
            await hook()
        except Exception:
            log.exception("error in shutdown hook")
    log.info("stopped")
