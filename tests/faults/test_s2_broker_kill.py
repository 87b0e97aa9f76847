"""Scenario 2: kill -9 the Kafka broker for 20 s while reports and sensor readings stream in.

- ReportIncident persists to Postgres with the event in the outbox: it may (correctly) answer OK
  while Kafka is down; the outbox publishes after the broker returns.
- IngestReadings is acknowledged only by Kafka (acks=all): while the broker is gone it must answer
  UNAVAILABLE, never an OK that counts readings as accepted.
- The same api processes recover without a restart: readings are accepted again and the outbox
  drains. Every acknowledged report/reading is then found exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ievents
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops.sensors.v1 import sensors_pb2 as spb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_devtools.testing import bearer, eventually, make_settings
from cityops_platform.kafka.topics import INCIDENT_EVENTS, SENSOR_READINGS

from ._checker import Ledger, client_key, forbidden
from ._load import report_request, report_until_acked
from ._remote import RemoteServer
from ._stack import inprocess_api, prepare, read_topic
from .conftest import Figures

OUTAGE_S = 20.0
SENSORS = 40


@pytest.mark.timeout(400)
async def test_broker_killed_for_20s_gives_unavailable_never_a_false_ok_and_producers_recover(
    remote_kafka: RemoteServer, database_url: str, topic_prefix: str, tmp_path: Path, figures: Figures
) -> None:
    broker = remote_kafka
    s = make_settings(kafka_bootstrap=broker.bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await prepare(s, "incidents", "sensors")
    reports = Ledger("ReportIncident → reports")
    readings = Ledger("IngestReadings accepted → sensors.readings")
    phase = {"now": "before"}
    by_phase: dict[str, Counter[str]] = {p: Counter() for p in ("before", "outage", "after")}
    accepted_after = {"n": 0}
    stop = asyncio.Event()
    clock = itertools.count()
    base_ms = int(time.time() * 1000) - 600_000
    run = f"k{time.time_ns()}"

    async with inprocess_api("incidents", s) as ich, inprocess_api("sensors", s) as sch:
        istub = incidents_pb2_grpc.IncidentServiceStub(ich)
        sstub = sensors_pb2_grpc.SensorServiceStub(sch)
        sensor_ids = [f"{run}-wl-{i}" for i in range(SENSORS)]
        for sid in sensor_ids:
            await sstub.RegisterSensor(spb.RegisterSensorRequest(sensor=spb.Sensor(
                id=sid, kind=spb.SENSOR_KIND_WATER_LEVEL, district="Thuận An", reporting_interval_seconds=60,
                name="Mực nước", location=common_pb2.GeoPoint(lat=10.905, lon=106.705))),
                metadata=bearer(s, "admin"), timeout=10)
        gateway = bearer(s, "integrator")  # admin-registered sensors: an unbound integration feeds them
        call_taker = bearer(s, "call_taker")

        async def report_client(c: int) -> None:
            for n in itertools.count():
                if stop.is_set():
                    return
                await report_until_acked(istub, call_taker, report_request(f"{run}-{c}-{n}", n, 5000), reports,
                                         deadline_s=90)
                await asyncio.sleep(0.05)

        async def ingest_client() -> None:
            while not stop.is_set():
                t = base_ms + next(clock)
                ids = [f"{sid}@{t}" for sid in sensor_ids]
                for i in ids:
                    readings.attempt(i)

                async def one(at: int = t) -> AsyncIterator[spb.ReadingBatch]:
                    yield spb.ReadingBatch(columns=spb.ReadingColumns(
                        sensor_ids=sensor_ids, values=[20.0] * SENSORS, observed_at_ms=[at] * SENSORS))

                try:
                    summary = await sstub.IngestReadings(one(), metadata=gateway, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    readings.fail(exc.code())
                    seen_in = phase["now"]  # answers are judged by when they arrive
                    by_phase[seen_in][f"ingest:{exc.code().name}"] += 1
                    await asyncio.sleep(0.2)
                    continue
                seen_in = phase["now"]
                rejected = {r.sensor_id for r in summary.rejections}
                assert summary.accepted == SENSORS - len(rejected), summary
                for sid, i in zip(sensor_ids, ids, strict=True):
                    if sid not in rejected:
                        readings.ack(i)
                by_phase[seen_in]["ingest:OK"] += 1
                if seen_in == "after":
                    accepted_after["n"] += summary.accepted
                await asyncio.sleep(0.05)

        async def fault() -> None:
            await asyncio.sleep(4)
            phase["now"] = "outage"
            await broker.akill()
            await asyncio.sleep(OUTAGE_S)
            await broker.arestart()
            phase["now"] = "after"
            await eventually(lambda: accepted_after["n"] > 0, timeout=60, interval=0.2)
            await asyncio.sleep(3)
            stop.set()

        started = time.monotonic()
        await asyncio.gather(fault(), *(report_client(c) for c in range(4)), ingest_client(), ingest_client())
        elapsed = time.monotonic() - started

        db = await asyncpg.connect(s.database_url)
        try:
            async def outbox_drained() -> bool:
                return await db.fetchval("SELECT count(*) FROM incidents.outbox WHERE published_at IS NULL") == 0

            await eventually(outbox_drained, timeout=90, interval=0.5)
            found_reports = [client_key(r[0]) for r in await db.fetch("SELECT idempotency_key FROM incidents.reports")]
            incidents = {str(r[0]) for r in await db.fetch("SELECT id FROM incidents.incidents")}
        finally:
            await db.close()

    found_readings: list[str] = []
    for rec in await read_topic(s.kafka_bootstrap, SENSOR_READINGS.full_name(s.topic_prefix)):
        batch = spb.ReadingRecord.FromString(rec.value)
        found_readings.extend(f"{sid}@{t}" for sid, t in zip(batch.sensor_ids, batch.observed_at_ms, strict=True))
    announced: dict[str, set[str]] = {}
    for rec in await read_topic(s.kafka_bootstrap, INCIDENT_EVENTS.full_name(s.topic_prefix)):
        event = ievents.IncidentEvent.FromString(rec.value)
        if event.WhichOneof("body") == "reported":
            announced.setdefault(event.incident_id, set()).add(event.event_id)
    events = Ledger("incidents → IncidentReported")
    events.acked = incidents
    verdicts = [reports.check(found_reports), readings.check(found_readings),
                events.check(i for i, ids in announced.items() for _ in ids)]

    figures.load = (f"{elapsed:.0f} s of 4 ReportIncident clients + 2 IngestReadings clients "
                    f"({SENSORS} readings per stream), in-process incidents and sensors apis")
    figures.faults = f"Kafka broker kill -9, down {OUTAGE_S:.0f} s + restart"
    figures.inputs = sum(reports.codes.values()) + len(readings.attempted)
    figures.acknowledged = len(reports.acked) + len(readings.acked)
    figures.lost = sum(len(v.lost) for v in verdicts)
    figures.duplicated = sum(len(v.duplicated) for v in verdicts)
    figures.unexpected = sum(len(v.unexpected) for v in verdicts)
    figures.codes = {f"report:{k}": v for k, v in reports.codes.items()} | {
        f"{p}/{k}": v for p, c in by_phase.items() for k, v in c.items()}
    figures.notes = (f"{len(reports.acked)} reports and {len(readings.acked)} readings acknowledged; "
                     f"{sum(v.indeterminate for v in verdicts)} unacknowledged readings found (allowed)")
    assert not forbidden(reports) and not forbidden(readings), (reports.codes, readings.codes)
    for verdict in verdicts:
        verdict.assert_clean()
    outage = by_phase["outage"]
    assert outage["ingest:UNAVAILABLE"] > 0, f"no IngestReadings answered UNAVAILABLE during the outage: {by_phase}"
    assert reports.codes.get("OK", 0) > 0 and accepted_after["n"] > 0
