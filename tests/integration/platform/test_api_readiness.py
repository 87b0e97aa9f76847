"""An api's readiness follows its Postgres, its liveness does not (runtime.watch_readiness, real server).

The chart's readiness probe asks grpc.health.v1 for "" and its liveness probe for "liveness": a
database outage takes the api out of its Services without restarting it, and it comes back by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops_devtools.devstack import PostgresServer
from cityops_platform import auth
from cityops_platform.db.pool import create_pool
from cityops_platform.grpc.client import create_channel
from cityops_platform.grpc.server import LIVENESS_SERVICE, create_server
from cityops_platform.runtime import watch_readiness
from cityops_platform.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_postgres_outage_makes_the_api_unready_but_keeps_it_alive(
    isolated_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    settings = Settings(environment="local")
    pool = await create_pool(isolated_postgres_server.dsn, "readiness", min_size=1, max_size=2)
    tokens = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    running = await create_server("127.0.0.1:0", services=[], policy=auth.AccessPolicy.for_service("x", {}),
                                  tokens=tokens)
    watcher = asyncio.create_task(watch_readiness(running, pool, interval=0.3))
    channel = create_channel(f"127.0.0.1:{running.port}", settings)
    stub = health_pb2_grpc.HealthStub(channel)

    async def status(service: str) -> int:
        return int((await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)).status)

    async def wait_for(expected: int, within: float) -> None:
        deadline = time.monotonic() + within
        while await status("") != expected:
            assert time.monotonic() < deadline, f"readiness never became {expected}"
            await asyncio.sleep(0.2)

    try:
        assert await status("") == SERVING and await status(LIVENESS_SERVICE) == SERVING
        await asyncio.to_thread(isolated_postgres_server.stop)
        await wait_for(NOT_SERVING, within=30)
        assert await status(LIVENESS_SERVICE) == SERVING  # never restarted for an outage
        await asyncio.to_thread(isolated_postgres_server.start)
        await wait_for(SERVING, within=60)
        assert await status(LIVENESS_SERVICE) == SERVING
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await channel.close()
        await running.server.stop(0)
        pool.terminate()
