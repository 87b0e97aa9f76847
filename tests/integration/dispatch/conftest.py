"""Fixtures for dispatch integration tests: real Kafka and Postgres from the devstack.

A test module shares one database, topic prefix and (when it needs one) one real worker
subprocess (``cityops worker dispatch``), because starting a Faust worker costs seconds. Each test
gets its own in-process api (real gRPC server on port 0) and starts from empty dispatch tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaProducer

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import bearer, consume, free_port, make_settings
from cityops_dispatch.eido.incidents_client import Incidents
from cityops_dispatch.server import POLICY, SERVICE, create_servicer
from cityops_dispatch.settings import DispatchSettings
from cityops_platform.db.migrations import migrate
from cityops_platform.grpc import GrpcService
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS
from cityops_platform.runtime import Resources, migrations_dir, service_resources, start_grpc
from cityops_platform.settings import Settings

TABLES = (
    "units, assignments, slots, incidents_view, incident_notes, eido_imports, eido_import_notes, agencies, stations"
)


@dataclass
class DispatchEnv:
    kafka_bootstrap: str
    topic_prefix: str
    database_url: str
    run_dir: Path

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(kafka_bootstrap=self.kafka_bootstrap, topic_prefix=self.topic_prefix,
                             database_url=self.database_url, **overrides)


@pytest.fixture(scope="module")
def dispatch_env(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DispatchEnv]:
    if not kafka_broker.is_running:
        kafka_broker.restart()
    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.create_database(name)
    env = DispatchEnv(kafka_broker.bootstrap, f"t{uuid.uuid4().hex[:10]}.", dsn, tmp_path_factory.mktemp("dispatch"))
    settings = env.settings()
    asyncio.run(apply_topics(settings))
    asyncio.run(migrate(dsn, "dispatch", migrations_dir("dispatch")))
    yield env
    postgres_server.drop_database(name)


class WorkerProcess:
    """``python -m cityops_platform.cli worker dispatch`` against the test's broker and database."""

    def __init__(self, env: DispatchEnv, extra: dict[str, str]) -> None:
        self.env = env
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = env.run_dir / f"worker-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> None:
        variables = {
            **os.environ,
            "CITYOPS_KAFKA_BOOTSTRAP": self.env.kafka_bootstrap,
            "CITYOPS_TOPIC_PREFIX": self.env.topic_prefix,
            "CITYOPS_DATABASE_URL": self.env.database_url,
            "CITYOPS_DATA_DIR": str(self.env.run_dir / "data"),
            "CITYOPS_METRICS_PORT": str(free_port()),
            "CITYOPS_LOG_LEVEL": "INFO",
            **self.extra,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it until stopped
        self.proc = subprocess.Popen(cli_argv("worker", "dispatch"),
                                     env=variables, stdout=log, stderr=subprocess.STDOUT, cwd=self.env.run_dir)
        log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def worker(dispatch_env: DispatchEnv, request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    """One worker for the module; ``WORKER_ENV`` in the test module adds variables (e.g. a short timeout)."""
    proc = WorkerProcess(dispatch_env, dict(getattr(request.module, "WORKER_ENV", {})))
    proc.start()
    yield proc
    proc.stop()


@dataclass
class Api:
    settings: Settings
    stub: dispatch_pb2_grpc.DispatchServiceStub
    pool: asyncpg.Pool
    env: DispatchEnv
    producer: AIOKafkaProducer
    extra: dict[str, Any] = field(default_factory=dict)

    def md(self, role: str = "dispatcher", subject: str | None = None, **bindings: str) -> tuple[tuple[str, str], ...]:
        return bearer(self.settings, role, subject, **bindings)

    async def register(self, unit_id: str, caps: list[str], lat: float, lon: float, *, unit_type: str = "AMBULANCE",
                       agency: int = common_pb2.Agency.AGENCY_MEDICAL_115) -> dispatch_pb2.Unit:
        unit = dispatch_pb2.Unit(id=unit_id, call_sign=unit_id.upper(), agency=agency,  # type: ignore[arg-type]
                                 capabilities=caps, unit_type=unit_type,
                                 location=common_pb2.GeoPoint(lat=lat, lon=lon, address="test"))
        reply: dispatch_pb2.Unit = await self.stub.RegisterUnit(dispatch_pb2.RegisterUnitRequest(unit=unit),
                                                                metadata=self.md("admin"))
        return reply

    async def publish(self, incident: incidents_pb2.Incident, *, body: str = "reported") -> str:
        """Produce an IncidentEvent carrying ``incident`` on the incidents topic, as incidents would."""
        event = incidents_pb2.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident.id,
                                            incident_number=incident.number, incident=incident,
                                            actor=common_pb2.Actor(subject="system:incidents", role="system"))
        event.occurred_at.FromDatetime(datetime.now(UTC))
        if body == "reported":
            event.reported.CopyFrom(incidents_pb2.IncidentReported(source=incidents_pb2.Source.SOURCE_HOTLINE_1022))
        else:
            event.transitioned.CopyFrom(incidents_pb2.IncidentTransitioned(to_status=incident.status))
        await self.producer.send_and_wait(f"{self.env.topic_prefix}{INCIDENT_EVENTS.name}",
                                          event.SerializeToString(), key=incident.id.encode())
        return event.event_id

    async def assignments(self, incident_id: str, *, active_only: bool = False) -> list[dispatch_pb2.Assignment]:
        reply = await self.stub.ListAssignments(
            dispatch_pb2.ListAssignmentsRequest(incident_id=incident_id, active_only=active_only), metadata=self.md()
        )
        return list(reply.assignments)

    async def events(self, incident_id: str, *, until: Any, wait_s: float = 30.0) -> list[dispatch_pb2.DispatchEvent]:
        """DispatchEvents of one incident, read from the topic until ``until(events)`` holds."""
        decoded: list[dispatch_pb2.DispatchEvent] = []

        def check(found: list[Any]) -> bool:
            decoded.clear()
            for record in found:
                event = dispatch_pb2.DispatchEvent()
                event.ParseFromString(record.value)
                decoded.append(event)
            return bool(until(decoded))

        await consume(self.settings, DISPATCH_EVENTS.name, count=0, timeout=wait_s,
                      predicate=lambda r: r.key == incident_id.encode(), until=check)
        return list(decoded)


def make_incident(
    *,
    category: int = incidents_pb2.Category.CATEGORY_EMERGENCY_MEDICAL,
    priority: int = incidents_pb2.Priority.PRIORITY_P1,
    lat: float = 10.9804,
    lon: float = 106.6519,
    status: int = incidents_pb2.Status.STATUS_NEW,
    version: int = 1,
    incident_id: str | None = None,
) -> incidents_pb2.Incident:
    ident = incident_id or str(uuid.uuid4())
    inc = incidents_pb2.Incident(
        id=ident, number=f"BD-20261126-{ident[:6]}", category=category, priority=priority,  # type: ignore[arg-type]
        status=status, description="Người đàn ông ngã quỵ, bất tỉnh",  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Đại lộ Bình Dương"), report_count=1,
        version=version, district="Thủ Dầu Một",
    )
    inc.created_at.FromDatetime(datetime.now(UTC))
    inc.updated_at.FromDatetime(datetime.now(UTC))
    return inc


@contextlib.asynccontextmanager
async def start_api(
    env: DispatchEnv, dispatch_settings: DispatchSettings, incidents: Incidents | None = None
) -> AsyncIterator[Api]:
    """A real dispatch gRPC server in this process (port 0) with a client stub."""
    settings = env.settings()
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with service_resources("dispatch", settings) as res:
            servicer = await create_servicer(res, dispatch=dispatch_settings, incidents=incidents)

            def build(_: Resources) -> list[GrpcService]:
                return [GrpcService(SERVICE, servicer, dispatch_pb2_grpc.add_DispatchServiceServicer_to_server)]

            running = await start_grpc("dispatch", settings, res, build=build, policy=POLICY, port=0)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
            try:
                yield Api(settings, dispatch_pb2_grpc.DispatchServiceStub(channel), res.db, env, producer)
            finally:
                await channel.close()
                await running.stop(0)
    finally:
        await producer.stop()


async def truncate(env: DispatchEnv) -> None:
    """Empty dispatch's tables between tests. A dispatch process of the session may still be in a
    transaction that reads two of them (a timer, the view), and TRUNCATE takes its locks one table at a
    time: Postgres then picks one of the two as a deadlock victim. When that is the TRUNCATE (nothing
    was done), it is simply run again."""
    conn = await asyncpg.connect(env.database_url)
    try:
        for attempt in range(5):
            try:
                await conn.execute(f"TRUNCATE dispatch.{TABLES.replace(', ', ', dispatch.')} CASCADE")
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        await conn.close()


@pytest.fixture
async def api(dispatch_env: DispatchEnv, request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """An in-process dispatch api over empty tables; ``API_SETTINGS`` in the test module tunes it."""
    await truncate(dispatch_env)
    dispatch_settings = DispatchSettings(**{"seed_on_start": False, **getattr(request.module, "API_SETTINGS", {})})
    async with start_api(dispatch_env, dispatch_settings) as running:
        yield running
