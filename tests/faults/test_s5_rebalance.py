"""Scenario 5: adding a worker, then removing one, during load leaves no stuck partition.

Two rebalances of the incidents worker group while sensor alerts stream in: worker B joins at
~25% and worker A leaves (SIGTERM) at ~60%. Every alert must become exactly one report and the
group's committed lag on the alerts topic must reach 0 (no partition left unowned or stuck).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cityops_devtools.testing import at_least, eventually
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.settings import Settings

from ._checker import Ledger
from ._load import alert_records, produce, sensor_alert
from ._stack import consumer_lag, group_of, wait_healthy, worker
from .conftest import Figures

SERVICES = ("incidents",)  # the `prepared` fixture applies their topics and schemas
LOAD = 2000


@pytest.mark.timeout(420)
async def test_adding_and_removing_a_worker_under_load_leaves_no_stuck_partition(
    prepared: Settings, run: str, tmp_path: Path, figures: Figures
) -> None:
    s = prepared
    topic = SENSOR_ALERTS.full_name(s.topic_prefix)
    alerts = [sensor_alert(n, LOAD, run) for n in range(LOAD)]
    records = alert_records(alerts)
    ledger = Ledger("sensor alerts → reports")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = worker("incidents", s, tmp_path / "a", name="worker-a")
    b = worker("incidents", s, tmp_path / "b", name="worker-b")
    db = await asyncpg.connect(s.database_url)
    events: list[str] = []

    async def processed() -> int:
        return int(await db.fetchval("SELECT count(*) FROM incidents.reports"))

    async def churn() -> None:
        await eventually(lambda: at_least(processed, LOAD // 4), timeout=200, interval=0.1)
        b.start()
        events.append(f"B joined at {await processed()}")
        await wait_healthy(b)
        await eventually(lambda: at_least(processed, LOAD * 6 // 10), timeout=200, interval=0.1)
        code = a.terminate()
        events.append(f"A left (SIGTERM, exit {code}) at {await processed()}")

    try:
        a.start()
        # The load arrives while the group changes: the first half up front, the rest paced.
        await produce(s.kafka_bootstrap, topic, records[: LOAD // 2], ledger)
        churner = asyncio.create_task(churn())
        for start in range(LOAD // 2, LOAD, 250):
            await produce(s.kafka_bootstrap, topic, records[start:start + 250], ledger)
            await asyncio.sleep(1.0)
        await churner
        await eventually(lambda: at_least(processed, LOAD), timeout=300, interval=0.5)
        group = group_of("incidents", s)

        async def caught_up() -> bool:
            return (await consumer_lag(s.kafka_bootstrap, group, [topic]))[topic] == 0

        await eventually(caught_up, timeout=60, interval=1.0)
        assert b.alive, b.tail()
        found = [r[0] for r in await db.fetch("SELECT sensor_alert_id FROM incidents.reports")]
    finally:
        a.terminate()
        b.terminate()
        await db.close()

    verdict = ledger.check(found)
    figures.load = f"{LOAD} sensor alerts (half up front, half paced at 250/s), incidents worker group"
    figures.faults = "2 rebalances: " + "; ".join(events)
    figures.inputs = LOAD
    figures.acknowledged = len(ledger.acked)
    figures.lost, figures.duplicated, figures.unexpected = (len(verdict.lost), len(verdict.duplicated),
                                                            len(verdict.unexpected))
    figures.notes = "committed consumer lag on the alerts topic reached 0"
    verdict.assert_clean()
    assert len(ledger.acked) == LOAD
