"""One real sensors stack per test module: the api and the worker as subprocesses on the session's
Kafka broker and a fresh database, the way they run in production (`cityops serve/worker sensors`).

Module-scoped so the Faust worker's start-up is paid once per module; tests isolate themselves by
using their own sensor ids.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.devstack._process import spawn, tail, terminate
from cityops_devtools.testing import bearer, consume, free_port, fresh_settings
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.runtime import migrations_dir
from cityops_platform.settings import Settings


@dataclass
class SensorStack:
    settings: Settings
    api_port: int
    worker_metrics_port: int
    env: dict[str, str]
    logs: Path
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    worker_starts: int = field(default=0)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    def start_api(self) -> None:
        self.api = spawn(cli_argv("serve", "sensors"),
                         log_file=self.logs / "api.log", env={**self.env, "CITYOPS_METRICS_PORT": str(free_port())})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.api.poll() is None, tail(self.logs / "api.log")
            with grpc.insecure_channel(self.addr) as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
            time.sleep(0.3)
        raise AssertionError("sensors api did not start:\n" + tail(self.logs / "api.log"))

    def start_worker(self) -> None:
        self.worker_starts += 1
        log = self.logs / f"worker-{self.worker_starts}.log"
        self.worker = spawn(cli_argv("worker", "sensors"), log_file=log,
                            env={**self.env, "CITYOPS_METRICS_PORT": str(self.worker_metrics_port)})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.worker.poll() is None, tail(log, 60)
            try:
                if httpx.get(f"http://127.0.0.1:{self.worker_metrics_port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("sensors worker did not start:\n" + tail(log, 60))

    def stop_worker(self, *, crash: bool = False) -> None:
        if self.worker is not None:
            terminate(self.worker, signal.SIGKILL if crash else signal.SIGTERM, 30)
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        if self.api is not None:
            terminate(self.api, signal.SIGTERM, 15)
            self.api = None


@pytest.fixture(scope="module")
def sensor_stack(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[SensorStack]:
    settings, db_name = fresh_settings(kafka_broker, postgres_server)
    dsn, prefix = settings.database_url, settings.topic_prefix
    asyncio.run(apply_topics(settings))
    asyncio.run(migrate(dsn, "sensors", migrations_dir("sensors")))
    logs = tmp_path_factory.mktemp("sensors-stack")
    port = free_port()
    env = {
        **os.environ,
        "CITYOPS_KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "CITYOPS_TOPIC_PREFIX": prefix,
        "CITYOPS_DATABASE_URL": dsn, "CITYOPS_DATA_DIR": str(logs / "data"), "CITYOPS_GRPC_PORT": str(port),
        "CITYOPS_LOG_LEVEL": "INFO", "CITYOPS_SENSORS_RULES_REFRESH_SECONDS": "0.5",
        "CITYOPS_SENSORS_CACHE_REFRESH_SECONDS": "0.5", "CITYOPS_SENSORS_TICK_SECONDS": "0.5",
        "CITYOPS_SENSORS_SINK_FLUSH_SECONDS": "0.2",
    }
    stack = SensorStack(settings, port, free_port(), env, logs)
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        postgres_server.drop_database(db_name)

NOW_MS = int(time.time() * 1000)
BASE_MS = NOW_MS - 3_600_000 - NOW_MS % 60_000  # a minute boundary an hour ago: event time is ours


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Client:
    def __init__(self, settings: Settings, addr: str) -> None:
        self.settings = settings
        self.channel = grpc.aio.insecure_channel(addr)
        self.stub = sensors_pb2_grpc.SensorServiceStub(self.channel)
        self.admin = bearer(settings, "admin")
        # The sensors here are registered by an admin: no gateway owns them, so an unbound integration
        # feeds them (gateway ownership: tests/integration/security/test_object_access.py).
        self.gateway = bearer(settings, "integrator")
        self.base_ms = BASE_MS

    @staticmethod
    def uid(prefix: str) -> str:
        return uid(prefix)

    async def close(self) -> None:
        await self.channel.close()

    async def register(self, sensor_id: str, kind: int = pb.SENSOR_KIND_WATER_LEVEL, interval: int = 60,
                       district: str = "Thuận An") -> pb.Sensor:
        sensor = pb.Sensor(id=sensor_id, kind=kind, district=district, reporting_interval_seconds=interval,  # type: ignore[arg-type]
                           name="Mực nước đường Nguyễn Văn Tiết",
                           location=common_pb2.GeoPoint(lat=10.905, lon=106.705, address="Lái Thiêu, Thuận An"))
        return await self.stub.RegisterSensor(pb.RegisterSensorRequest(sensor=sensor), metadata=self.admin, timeout=10)

    async def rule(self, **fields: object) -> pb.Rule:
        rule = await self.stub.PutRule(pb.PutRuleRequest(rule=pb.Rule(enabled=True, **fields)),  # type: ignore[arg-type]
                                       metadata=self.admin, timeout=10)
        await asyncio.sleep(1.0)  # the worker reloads rules every 0.5 s here
        return rule

    async def ingest(self, sensor_id: str, values: Sequence[float], *, start_ms: int = BASE_MS,
                     step_ms: int = 1000, columns: bool = True) -> pb.IngestSummary:
        times = [start_ms + i * step_ms for i in range(len(values))]
        if columns:
            batch = pb.ReadingBatch(columns=pb.ReadingColumns(sensor_ids=[sensor_id] * len(values), values=values,
                                                              observed_at_ms=times))
        else:
            batch = pb.ReadingBatch(readings=[
                pb.Reading(sensor_id=sensor_id, value=v, observed_at={"seconds": t // 1000, "nanos": t % 1000 * 10**6})
                for v, t in zip(values, times, strict=True)])

        async def batches():  # type: ignore[no-untyped-def]
            yield batch

        return await self.stub.IngestReadings(batches(), metadata=self.gateway, timeout=30)

    async def alerts(
        self, sensor_id: str, *, expect: int, settle: float = 2.0, wait_s: float = 30.0
    ) -> list[pb.SensorAlert]:
        """Every alert of a sensor, once at least ``expect`` arrived and nothing more came for ``settle`` s."""
        def mine(record: object) -> bool:
            return record.key == sensor_id.encode()  # type: ignore[attr-defined]

        await consume(self.settings, SENSOR_ALERTS.name, count=expect, predicate=mine, timeout=wait_s)
        await asyncio.sleep(settle)
        records = await consume(self.settings, SENSOR_ALERTS.name, count=10**9, predicate=mine, timeout=2.0)
        return [pb.SensorAlert.FromString(r.value) for r in records]


@pytest.fixture
async def client(sensor_stack: SensorStack) -> AsyncIterator[Client]:
    c = Client(sensor_stack.settings, sensor_stack.addr)
    try:
        yield c
    finally:
        await c.close()
