"""What every service process does at start and stop, written once.

A service's ``server.py`` only says which servicers to mount and which roles may call what;
``serve_grpc`` does the rest: logging, tracing, metrics, the Postgres pool, the Kafka producer,
the outbox relay, the gRPC server and the graceful drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from cityops_platform import auth, heap
from cityops_platform.db.outbox import OutboxRelay
from cityops_platform.db.pool import create_pool
from cityops_platform.geo.admin_units import admin_units
from cityops_platform.grpc.server import (
    GrpcService,
    RunningServer,
    create_server,
    serve_until_stopped,
    server_credentials,
)
from cityops_platform.kafka.producer import EventProducer
from cityops_platform.logging import configure_logging
from cityops_platform.metrics import start_metrics_server
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

log = logging.getLogger("cityops.runtime")

SERVICES: tuple[str, ...] = ("incidents", "dispatch", "sensors", "notifications")
ALL_PROCESSES: tuple[str, ...] = (*SERVICES, "gateway")


@dataclass
class Resources:
    """The connections a service process holds: Postgres (its own schema) and a Kafka producer."""

    service: str
    settings: Settings
    pool: asyncpg.Pool | None = None
    producer: EventProducer | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ConnectionError(f"{self.service}: database pool not open yet")
        return self.pool

    @property
    def kafka(self) -> EventProducer:
        if self.producer is None:
            raise ConnectionError(f"{self.service}: Kafka producer not started yet")
        return self.producer

    async def wait_open(self, *, producer: bool = False, interval: float = 0.1) -> None:
        """Until the pool (and the producer, when asked) is open: a worker's timers and tasks may
        start before the sibling service that opens them."""
        while self.pool is None or (producer and self.producer is None):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(interval)


def service_module(service: str, module: str) -> Any:
    """Import ``cityops_<service>.<module>`` (services are found by name, never imported directly)."""
    return importlib.import_module(f"cityops_{service}.{module}")


def migrations_dir(service: str) -> Path | None:
    """The service's numbered SQL files: the ``migrations/`` folder inside its package."""
    package = importlib.import_module(f"cityops_{service}")
    path = Path(package.__file__ or "").parent / "migrations"
    return path if path.is_dir() else None


@contextlib.asynccontextmanager
async def service_resources(
    service: str,
    settings: Settings,
    *,
    database: bool = True,
    kafka: bool = True,
    relay: bool = True,
) -> AsyncIterator[Resources]:
    """Open the pool, the producer and the outbox relay; close them in reverse order."""
    res = Resources(service=service, settings=settings)
    relay_obj: OutboxRelay | None = None
    try:
        # The city's administrative units, read once before the first request needs them (and a
        # missing city folder fails the start, not the first report).
        await asyncio.to_thread(admin_units)
        if database:
            res.pool = await create_pool(
                settings.database_url, service, min_size=settings.db_pool_min, max_size=settings.db_pool_max
            )
        if kafka:
            res.producer = EventProducer(settings, client_id=f"cityops-{service}")
            await res.producer.start()
        if relay and res.pool is not None and res.producer is not None:
            relay_obj = OutboxRelay(res.pool, res.producer, schema=service,
                                    min_drain_interval_s=settings.outbox_min_drain_ms / 1000)
            res.tasks.append(asyncio.create_task(relay_obj.run(), name=f"{service}-outbox-relay"))
        yield res
    finally:
        if relay_obj is not None:
            relay_obj.stop()
        # Let the relay finish its batch and release its connection; cancel what lingers.
        if res.tasks:
            _, lingering = await asyncio.wait(res.tasks, timeout=5.0)
            for task in lingering:
                task.cancel()
            for task in lingering:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if res.producer is not None:
            await res.producer.stop()
        if res.pool is not None:
            await res.pool.close()


BuildServices = Callable[[Resources], Sequence[GrpcService] | Awaitable[Sequence[GrpcService]]]


async def start_grpc(
    service: str,
    settings: Settings,
    res: Resources,
    *,
    build: BuildServices,
    policy: auth.AccessPolicy,
    port: int | None = None,
) -> RunningServer:
    """Mount the service's servicers on a started server (port 0 binds a free port, for tests)."""
    built = build(res)
    services = await built if asyncio.iscoroutine(built) else built
    tokens = auth.TokenCodec.from_settings(settings)
    bind_port = settings.service_grpc_port(service) if port is None else port
    creds = server_credentials(settings.grpc_tls_cert, settings.grpc_tls_key, settings.grpc_tls_client_ca)
    return await create_server(
        f"{settings.grpc_host}:{bind_port}",
        services=list(services),  # type: ignore[arg-type]
        policy=policy,
        tokens=tokens,
        credentials=creds,
        max_connection_age_s=settings.grpc_max_connection_age_seconds,
        max_connection_age_grace_s=settings.grpc_max_connection_age_grace_seconds,
        reflection_enabled=settings.reflection_enabled,
        max_streams_per_principal=settings.max_streams_per_principal,
    )


async def database_reachable(pool: asyncpg.Pool, *, within: float) -> bool:
    """True when ``SELECT 1`` on the pool answers within ``within`` seconds."""
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), within)
    except asyncio.CancelledError:
        raise
    except Exception:  # timeouts, refused connections, Postgres errors: all mean "not ready now"
        return False
    return True


async def watch_readiness(running: RunningServer, pool: asyncpg.Pool | None, *, interval: float) -> None:
    """Readiness follows the dependencies: the overall health is NOT_SERVING while Postgres does not
    answer, SERVING again when it does. Liveness (``LIVENESS_SERVICE``) is left alone: an outage
    takes the pod out of the Service without restarting it."""
    if pool is None:
        return
    serving = True
    while True:
        await asyncio.sleep(interval)
        ok = await database_reachable(pool, within=max(interval - 0.5, 1.0))
        if ok != serving:
            log.warning("readiness changed", extra={"serving": ok, "dependency": "postgres"})
            await running.set_serving(ok)
            serving = ok


async def serve_grpc(
    service: str,
    settings: Settings,
    *,
    build: BuildServices,
    policy: auth.AccessPolicy,
    database: bool = True,
    kafka: bool = True,
) -> None:
    """Run a service's gRPC api until SIGTERM/SIGINT, then drain and close everything."""
    settings.require_signing_key()
    configure_logging(service, settings.log_level)
    heap.tune(settings.gc_young_threshold)
    configure_tracing(f"{service}-api")
    start_metrics_server(settings.service_metrics_port(service))
    async with service_resources(service, settings, database=database, kafka=kafka) as res:
        running = await start_grpc(service, settings, res, build=build, policy=policy)
        frozen = heap.freeze_startup_heap()
        log.info("start-up heap frozen", extra={"objects": frozen})
        watcher = asyncio.create_task(
            watch_readiness(running, res.pool, interval=settings.grpc_readiness_interval_seconds),
            name=f"{service}-readiness",
        )
        try:
            await serve_until_stopped(running, drain_seconds=settings.grpc_drain_seconds)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
