"""Killing the worker (SIGKILL) in the middle of a stream of sensor alerts and restarting it
creates no duplicate incident and loses no alert."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from cityops_devtools.testing import at_least, consume, eventually, incidents_reported, make_settings
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import INCIDENT_EVENTS, SENSOR_ALERTS
from cityops_platform.runtime import migrations_dir

from .conftest import Worker
from .test_worker_streams import alert

pytestmark = pytest.mark.integration
# A 20 x 20 grid, 0.02° (~2.2 km) apart: farther than the flood fusion radius, so one incident each.
GRID = [(11.00 + 0.02 * i, 106.45 + 0.02 * j) for i in range(20) for j in range(20)]


async def test_sigkill_mid_stream_then_restart_creates_no_duplicate_and_loses_no_alert(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await apply_topics(settings)
    await migrate(database_url, "incidents", migrations_dir("incidents"))
    alerts = [alert(f"crash-{n}-{uuid.uuid4().hex[:6]}", lat=lat, lon=lon, sensor_id=f"wl-{n % 12}")
              for n, (lat, lon) in enumerate(GRID)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for a in alerts:
            await producer.send(SENSOR_ALERTS.full_name(topic_prefix), a.SerializeToString(), key=a.sensor_id.encode())
        await producer.flush()
    finally:
        await producer.stop()

    conn = await asyncpg.connect(database_url)
    worker = Worker(settings, tmp_path)
    try:
        async def links() -> int:
            return int(await conn.fetchval("SELECT count(*) FROM incidents.alert_links"))

        worker.start()
        at_kill = await eventually(lambda: at_least(links, 20), timeout=90, interval=0.02)
        worker.kill()
        assert at_kill < len(alerts), "the worker finished before it was killed; nothing was interrupted"

        worker.start()
        await eventually(lambda: at_least(links, len(alerts)), timeout=120, interval=0.2)
        assert await conn.fetchval("SELECT count(*) FROM incidents.incidents") == len(alerts)
        assert await conn.fetchval("SELECT count(*) FROM incidents.reports") == len(alerts)
        assert await conn.fetchval("SELECT count(DISTINCT sensor_alert_id) FROM incidents.reports") == len(alerts)
        assert await conn.fetchval("SELECT max(report_count) FROM incidents.incidents") == 1
    finally:
        worker.stop()
        await conn.close()

    # Every incident announced; the relay may republish after the kill, but never a second incident.
    records = await consume(settings, INCIDENT_EVENTS.name, count=len(alerts), timeout=60,
                            until=lambda found: len({r.key for r in found}) >= len(alerts))
    reported = incidents_reported(records)
    assert len(reported) == len(alerts)
    assert all(len(ids) == 1 for ids in reported.values())
