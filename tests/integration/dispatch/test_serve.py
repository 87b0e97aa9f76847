"""``cityops serve dispatch`` as a real process: it starts, seeds the Binh Duong units once, serves."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.testing import bearer, eventually, free_port
from cityops_dispatch.rules import load_units_data

from .conftest import DispatchEnv, truncate

pytestmark = pytest.mark.integration


def _spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(cli_argv("serve", "dispatch"), env=env,
                                stdout=log, stderr=subprocess.STDOUT)


async def _wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)

    async def serving() -> bool:
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    await eventually(serving, timeout=60, interval=0.3)


@pytest.mark.timeout(120)
async def test_served_api_seeds_default_units_on_an_empty_database(dispatch_env: DispatchEnv) -> None:
    await truncate(dispatch_env)
    port = free_port()
    env = {**os.environ, "CITYOPS_KAFKA_BOOTSTRAP": dispatch_env.kafka_bootstrap,
           "CITYOPS_TOPIC_PREFIX": dispatch_env.topic_prefix, "CITYOPS_DATABASE_URL": dispatch_env.database_url,
           "CITYOPS_GRPC_PORT": str(port), "CITYOPS_METRICS_PORT": str(free_port())}
    expected = sum(len(s["units"]) for s in load_units_data()["stations"])
    settings = dispatch_env.settings()
    for _ in range(2):  # the second start finds units and seeds nothing more
        proc = _spawn(env, dispatch_env.run_dir / "serve.log")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await _wait_serving(channel)
                stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
                reply = await stub.ListUnits(dispatch_pb2.ListUnitsRequest(page_size=1000),
                                             metadata=bearer(settings, "dispatcher"))
                assert len(reply.units) == expected
                assert {u.ward_name for u in reply.units} >= {"Phường Dĩ An", "Xã Dầu Tiếng", "Xã Bắc Tân Uyên"}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
