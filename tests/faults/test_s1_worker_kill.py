"""Scenario 1: kill -9 the incidents worker at ~30% of a sensor-alert load, then restart it.

Acknowledged write = an alert the broker acknowledged (acks=all). Read back: the incidents
schema, where every alert must have exactly one report (``reports.sensor_alert_id``) and one
alert link, and Kafka, where every incident must be announced by exactly one IncidentReported.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from cityops_devtools.testing import at_least, eventually, incidents_reported
from cityops_platform.kafka.topics import INCIDENT_EVENTS, SENSOR_ALERTS
from cityops_platform.settings import Settings

from ._checker import Ledger
from ._load import alert_records, produce, sensor_alert
from ._stack import consumer_lag, group_of, read_topic, worker
from .conftest import Figures

SERVICES = ("incidents",)  # the `prepared` fixture applies their topics and schemas
# 10k in the nightly run (CITYOPS_FAULTS_ALERTS=10000); 5k keeps CI within its budget (~70 alerts/s on 2 cores).
LOAD = int(os.environ.get("CITYOPS_FAULTS_ALERTS", "5000"))


@pytest.mark.timeout(600)
async def test_worker_killed_at_30_percent_of_alert_load_loses_and_duplicates_nothing(
    prepared: Settings, run: str, tmp_path: Path, figures: Figures
) -> None:
    s = prepared
    alerts = [sensor_alert(n, LOAD, run) for n in range(LOAD)]
    ledger = Ledger("sensor alerts → incidents")
    topic = SENSOR_ALERTS.full_name(s.topic_prefix)
    await produce(s.kafka_bootstrap, topic, alert_records(alerts), ledger)
    figures.load = f"{LOAD} sensor alerts on 6 partitions, one incidents worker"

    db = await asyncpg.connect(s.database_url)
    w = worker("incidents", s, tmp_path)
    try:
        async def processed() -> int:
            return int(await db.fetchval("SELECT count(*) FROM incidents.alert_links"))

        t0 = time.monotonic()
        w.start()
        await eventually(lambda: at_least(processed, 1), timeout=120, interval=0.05)
        t_first = time.monotonic()
        at_kill = await eventually(lambda: at_least(processed, int(LOAD * 0.3)), timeout=300, interval=0.05)
        t_kill = time.monotonic()
        w.kill()
        assert at_kill < LOAD, "the worker finished before the kill: nothing was interrupted"
        w.start()
        await eventually(lambda: at_least(processed, at_kill + 1), timeout=120, interval=0.05)
        t_resume = time.monotonic()
        await eventually(lambda: at_least(processed, LOAD), timeout=400, interval=0.5)
        t_done = time.monotonic()
        phases = (f"first record after {t_first - t0:.0f} s; {at_kill / max(t_kill - t_first, 0.1):.0f} alerts/s; "
                  f"resumed {t_resume - t_kill:.0f} s after the kill; done {t_done - t_resume:.0f} s later")
        await asyncio.sleep(2)  # redelivered records after the crash must change nothing: let them arrive
        assert w.alive, w.tail()

        reports = [r["sensor_alert_id"] for r in await db.fetch(
            "SELECT sensor_alert_id FROM incidents.reports WHERE sensor_alert_id <> ''")]
        links = [r["alert_id"] for r in await db.fetch("SELECT alert_id FROM incidents.alert_links")]
        incidents = {str(r["id"]) for r in await db.fetch("SELECT id FROM incidents.incidents")}
        duplicates_skipped = await db.fetchval(
            "SELECT count(*) FROM incidents.processed_events") if await _has_table(db, "processed_events") else None
    finally:
        w.terminate()
        await db.close()

    verdict = ledger.check(reports)
    link_verdict = ledger.check(links)
    # Every incident announced once: the relay may republish a row (same event id) after the
    # crash, never a second IncidentReported for the same incident.
    records = await read_topic(s.kafka_bootstrap, INCIDENT_EVENTS.full_name(s.topic_prefix))
    announced = incidents_reported(records)
    event_ledger = Ledger("incidents → IncidentReported")
    event_ledger.acked = incidents
    event_verdict = event_ledger.check(iid for iid, ids in announced.items() for _ in ids)
    lag = await consumer_lag(s.kafka_bootstrap, group_of("incidents", s), [topic])

    figures.inputs = LOAD
    figures.acknowledged = len(ledger.acked)
    figures.lost = len(verdict.lost) + len(link_verdict.lost) + len(event_verdict.lost)
    figures.duplicated = len(verdict.duplicated) + len(link_verdict.duplicated) + len(event_verdict.duplicated)
    figures.unexpected = len(verdict.unexpected) + len(event_verdict.unexpected)
    figures.faults = f"1 kill -9 of the worker at {at_kill}/{LOAD} alerts processed, 1 restart"
    figures.codes = dict(Counter({"kafka-acked": len(ledger.acked)}))
    figures.notes = (f"{phases}; {len(incidents)} incidents ({LOAD - len(incidents)} alerts fused), "
                     f"{sum(len(v) for v in announced.values())} IncidentReported records, lag {lag[topic]}"
                     + (f", {duplicates_skipped} processed-event ids" if duplicates_skipped is not None else ""))
    verdict.assert_clean()
    link_verdict.assert_clean()
    event_verdict.assert_clean()
    assert len(ledger.acked) == LOAD



async def _has_table(db: asyncpg.Connection, name: str) -> bool:
    return bool(await db.fetchval("SELECT to_regclass('incidents.' || $1) IS NOT NULL", name))
