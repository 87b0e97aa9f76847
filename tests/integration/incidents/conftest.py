"""Fixtures for the incidents service against the real Kafka and Postgres of the test session.

``api`` runs the real gRPC api in-process (port 0). ``Worker`` runs the real Faust worker as a
subprocess (``cityops worker incidents``); modules that need one share it through a module-scoped
fixture with its own database and topic prefix, since starting Faust costs seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import bearer, consume, free_port, fresh_settings, make_settings
from cityops_incidents.server import POLICY, build
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.runtime import migrations_dir, service_resources, start_grpc
from cityops_platform.settings import Settings

TDM = (10.980, 106.655)  # Thủ Dầu Một, inside the service area


@dataclass
class Api:
    settings: Settings
    stub: incidents_pb2_grpc.IncidentServiceStub
    port: int

    def md(self, role: str | list[str] = "call_taker", subject: str | None = None) -> Any:
        return bearer(self.settings, role, subject)

    async def report_unfused(self, description: str) -> pb.Incident:
        """A new incident of its own: administrative procedures are never fused."""
        reply = await self.stub.ReportIncident(
            report_request(category=pb.CATEGORY_ADMINISTRATIVE_PROCEDURE, description=description), metadata=self.md())
        return reply.incident


def report_request(
    *, category: int = pb.CATEGORY_FIELD_REPORT, lat: float = TDM[0], lon: float = TDM[1],
    source: int = pb.SOURCE_HOTLINE_1022, description: str = "Ổ gà lớn giữa đường", key: str | None = None,
    **kwargs: Any,
) -> pb.ReportIncidentRequest:
    return pb.ReportIncidentRequest(
        category=category, source=source, description=description,
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address=kwargs.pop("address", "Đại lộ Bình Dương")),
        idempotency_key=key or str(uuid.uuid4()), **kwargs,
    )


async def incident_events(
    settings: Settings, incident_id: str, count: int, event_type: str = ""
) -> list[pb.IncidentEvent]:
    """The first ``count`` IncidentEvents of one incident on the incidents topic (only those of
    ``event_type`` when given)."""

    def wanted(record: Any) -> bool:
        return record.key == incident_id.encode() and (
            not event_type or dict(record.headers)["cityops-event-type"] == event_type.encode())

    records = await consume(settings, INCIDENT_EVENTS.name, count=count, predicate=wanted)
    events = []
    for record in records:
        event = pb.IncidentEvent()
        event.ParseFromString(record.value)
        events.append(event)
    return events


async def prepare(settings: Settings) -> None:
    """Topics of the catalog under the test's prefix, and the incidents schema."""
    await apply_topics(settings)
    await migrate(settings.database_url, "incidents", migrations_dir("incidents"))


@pytest.fixture
async def api(kafka_bootstrap: str, topic_prefix: str, database_url: str) -> AsyncIterator[Api]:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await prepare(settings)
    async with api_on(settings) as running:
        yield running


class _ApiContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> Api:
        self._res_cm = service_resources("incidents", self.settings)
        res = await self._res_cm.__aenter__()
        self._running = await start_grpc("incidents", self.settings, res, build=build, policy=POLICY, port=0)
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{self._running.port}")
        return Api(self.settings, incidents_pb2_grpc.IncidentServiceStub(self._channel), self._running.port)

    async def __aexit__(self, *exc: object) -> None:
        await self._channel.close()
        await self._running.stop(0.5)
        await self._res_cm.__aexit__(None, None, None)


def api_on(settings: Settings) -> _ApiContext:
    return _ApiContext(settings)


class Worker:
    """``cityops worker incidents`` as a subprocess with its own data dir and metrics port."""

    def __init__(self, settings: Settings, tmp: Path, *, rules: dict[str, Any] | None = None,
                 sla_sweep_seconds: float = 5.0, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.tmp = tmp
        self.env = {
            **os.environ,
            "CITYOPS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CITYOPS_TOPIC_PREFIX": settings.topic_prefix,
            "CITYOPS_DATABASE_URL": settings.database_url,
            "CITYOPS_DATA_DIR": str(tmp / "data"),
            "CITYOPS_METRICS_PORT": str(free_port()),
            "CITYOPS_LOG_LEVEL": "WARNING",
            "CITYOPS_INCIDENTS_SLA_SWEEP_SECONDS": str(sla_sweep_seconds),
            # A SIGKILLed worker's partitions return after the session timeout: keep restarts quick.
            "CITYOPS_INCIDENTS_WORKER_SESSION_TIMEOUT_SECONDS": "8",
            **(env or {}),
        }
        if rules is not None:
            path = tmp / "rules.yaml"
            path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
            self.env["CITYOPS_INCIDENTS_RULES_FILE"] = str(path)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.tmp / f"worker-{self.starts}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(cli_argv("worker", "incidents"),
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        log.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no offset commit, no relay shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.tmp.glob("worker-*.log")))


@dataclass
class City:
    """A database, a topic prefix and a running worker shared by one test module."""

    settings: Settings
    worker: Worker


def city_for_module(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, tmp: Path, **worker_kwargs: Any
) -> Iterator[City]:
    settings, name = fresh_settings(kafka_broker, postgres_server)
    asyncio.run(prepare(settings))
    worker = Worker(settings, tmp, **worker_kwargs)
    worker.start()
    try:
        yield City(settings, worker)
    finally:
        worker.stop()
        postgres_server.drop_database(name)
