"""Scenario 6: poison messages among 1k good ones on the real incidents worker (sensors.alerts).

Two kinds of poison: bytes that are not a SensorAlert (decode error) and a well-formed alert the
handler rejects (a location outside the service area → ValidationFailed). Both must land in
``<topic>.dlq`` with their origin headers (topic, partition, offset) and the reason; every good
alert must become exactly one report; the agent must keep consuming afterwards.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from cityops.common.v1 import common_pb2
from cityops_devtools.testing import eventually
from cityops_platform.kafka import headers as h
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.settings import Settings

from ._checker import Ledger
from ._load import sensor_alert
from ._stack import read_topic, wait_healthy, worker
from .conftest import Figures

SERVICES = ("incidents",)  # the `prepared` fixture applies their topics and schemas
GOOD = 1000


@pytest.mark.timeout(300)
async def test_poison_records_go_to_the_dlq_with_origin_and_the_agent_keeps_running(
    prepared: Settings, run: str, tmp_path: Path, figures: Figures
) -> None:
    s = prepared
    topic = SENSOR_ALERTS.full_name(s.topic_prefix)
    good = [sensor_alert(n, GOOD + 1, run) for n in range(GOOD + 1)]
    late = good.pop()  # sent after the poison, to prove the agent still runs
    outside = sensor_alert(GOOD + 7, GOOD + 8, run)
    outside.alert_id = f"{run}-outside"
    outside.location.CopyFrom(common_pb2.GeoPoint(lat=21.03, lon=105.85, address="Hà Nội"))  # not Bình Dương
    poison = {"decode": b"\xff\xfe this is not a protobuf \x00\x01", "handler": outside.SerializeToString()}

    ledger = Ledger("good alerts → reports")
    origins: dict[str, tuple[int, int]] = {}
    producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n, a in enumerate(good):
            ledger.attempt(a.alert_id)
            await producer.send(topic, a.SerializeToString(), key=a.sensor_id.encode())
            ledger.ack(a.alert_id)  # acknowledged by the flush below, or the test fails there
            if n in (GOOD // 3, 2 * GOOD // 3):
                reason = "decode" if n == GOOD // 3 else "handler"
                meta = await producer.send_and_wait(topic, poison[reason], key=f"{run}-poison".encode())
                origins[reason] = (meta.partition, meta.offset)
        await producer.flush()
    finally:
        await producer.stop()

    db = await asyncpg.connect(s.database_url)
    w = worker("incidents", s, tmp_path)
    w.start()
    try:
        async def reports() -> list[str]:
            return [r[0] for r in await db.fetch("SELECT sensor_alert_id FROM incidents.reports")]

        await eventually(lambda: _count_at_least(reports, GOOD), timeout=200, interval=0.3)
        producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, late.SerializeToString(), key=late.sensor_id.encode())
        finally:
            await producer.stop()
        ledger.attempt(late.alert_id)
        ledger.ack(late.alert_id)
        await eventually(lambda: _count_at_least(reports, GOOD + 1), timeout=60, interval=0.2)
        await wait_healthy(w, within=10)
        found = await reports()
    finally:
        w.terminate()
        await db.close()

    dead = await read_topic(s.kafka_bootstrap, f"{topic}.dlq")
    by_reason = {}
    for rec in dead:
        hdr = dict(rec.headers)
        by_reason[hdr[h.DLQ_REASON].decode()] = rec
        assert hdr[h.DLQ_TOPIC].decode() == topic
        assert hdr[h.DLQ_ERROR]
    verdict = ledger.check(found)

    figures.load = f"{GOOD + 1} good sensor alerts, 2 poison records, one incidents worker"
    figures.faults = "1 undecodable record, 1 record the handler rejects (ValidationFailed)"
    figures.inputs = GOOD + 3
    figures.acknowledged = len(ledger.acked)
    figures.lost = len(verdict.lost) + len(set(poison) - set(by_reason))
    figures.duplicated = len(verdict.duplicated) + max(0, len(dead) - len(poison))
    figures.unexpected = len(verdict.unexpected)
    figures.codes = {f"dlq:{k}": 1 for k in by_reason}
    figures.notes = f"{len(dead)} DLQ records; {len(found)} reports; agent alive and /healthz 200 after the poison"
    verdict.assert_clean()
    assert sorted(by_reason) == ["decode", "handler"], [dict(r.headers) for r in dead]
    assert len(dead) == 2
    for reason, (partition, offset) in origins.items():
        hdr = dict(by_reason[reason].headers)
        assert (int(hdr[h.DLQ_PARTITION]), int(hdr[h.DLQ_OFFSET])) == (partition, offset)
        assert by_reason[reason].value == poison[reason]
    assert "ValidationFailed" in dict(by_reason["handler"].headers)[h.DLQ_ERROR].decode()


async def _count_at_least(fetch: object, n: int) -> bool:
    return len(await fetch()) >= n  # type: ignore[operator]
