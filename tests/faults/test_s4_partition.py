"""Scenario 4: a 30 s network partition between the incidents worker and the broker.

A dedicated broker has a second listener, WORKER, advertised at a TCP proxy's port; the worker
bootstraps through the proxy, so all its broker traffic crosses it, while the test's producer and
read-back use the direct listener. The proxy black-holes traffic for 30 s (no resets, like a lost
route). Expected: the worker's /healthz turns NOT_SERVING during the partition and SERVING after;
the worker survives without a restart; every alert acknowledged by the broker (during the
partition too) becomes exactly one report; the group's lag returns to 0.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from cityops_devtools.devstack import DevstackUnavailable
from cityops_devtools.testing import at_least, eventually, free_port, make_settings
from cityops_platform.kafka.topics import SENSOR_ALERTS

from ._checker import Ledger
from ._load import alert_records, produce, sensor_alert
from ._proxy import PartitionProxy
from ._stack import ProxiedBroker, consumer_lag, group_of, prepare, wait_healthy, worker
from .conftest import Figures, unavailable

PARTITION_S = 30.0
LOAD = 1500


@pytest.mark.timeout(400)
async def test_partition_between_worker_and_broker_flips_health_and_loses_nothing(
    database_url: str, topic_prefix: str, tmp_path: Path, figures: Figures
) -> None:
    proxy_port = free_port()
    broker = ProxiedBroker(tmp_path / "kafka", proxy_port=proxy_port)
    try:
        await asyncio.to_thread(broker.start)
    except DevstackUnavailable as exc:
        unavailable("Kafka", exc)
    proxy = await PartitionProxy("127.0.0.1", broker.worker_port, port=proxy_port).start()
    direct = make_settings(kafka_bootstrap=broker.bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    via_proxy = make_settings(kafka_bootstrap=f"127.0.0.1:{proxy.port}", topic_prefix=topic_prefix,
                              database_url=database_url)
    await prepare(direct, "incidents")
    run = uuid.uuid4().hex[:6]
    topic = SENSOR_ALERTS.full_name(topic_prefix)
    alerts = [sensor_alert(n, LOAD, run) for n in range(LOAD)]
    records = alert_records(alerts)
    third = LOAD // 3
    ledger = Ledger("sensor alerts → reports")
    w = worker("incidents", via_proxy, tmp_path)
    db = await asyncpg.connect(database_url)
    health: list[tuple[float, int]] = []
    polling = asyncio.Event()

    async def poll_health() -> None:
        while not polling.is_set():
            health.append((time.monotonic(), await w.healthz()))
            await asyncio.sleep(0.5)

    async def processed() -> int:
        return int(await db.fetchval("SELECT count(*) FROM incidents.reports"))

    try:
        w.start()
        await wait_healthy(w)
        poller = asyncio.create_task(poll_health())
        await produce(broker.bootstrap, topic, records[:third], ledger)
        await eventually(lambda: at_least(processed, third // 2), timeout=120, interval=0.1)
        cut_at = time.monotonic()
        proxy.partition()
        await produce(broker.bootstrap, topic, records[third:2 * third], ledger)  # the broker still takes writes
        during = await processed()
        await eventually(lambda: _unhealthy(w), timeout=PARTITION_S, interval=0.5)
        not_serving_after = time.monotonic() - cut_at
        await asyncio.sleep(max(0.0, PARTITION_S - (time.monotonic() - cut_at)))
        healed_at = time.monotonic()
        proxy.heal()
        await produce(broker.bootstrap, topic, records[2 * third:], ledger)
        await wait_healthy(w, within=120)
        serving_after = time.monotonic() - healed_at
        await eventually(lambda: at_least(processed, LOAD), timeout=300, interval=0.5)

        async def caught_up() -> bool:
            return (await consumer_lag(broker.bootstrap, group_of("incidents", direct), [topic]))[topic] == 0

        await eventually(caught_up, timeout=60, interval=1.0)
        assert w.alive and w.starts == 1, w.tail()
        found = [r[0] for r in await db.fetch("SELECT sensor_alert_id FROM incidents.reports")]
        polling.set()
        await poller
    finally:
        polling.set()
        w.terminate()
        await db.close()
        await proxy.stop()
        await asyncio.to_thread(broker.stop)

    verdict = ledger.check(found)
    in_partition = [code for t, code in health if cut_at <= t <= healed_at]
    figures.load = f"{LOAD} sensor alerts, a third before, during and after the partition; one incidents worker"
    figures.faults = (f"{PARTITION_S:.0f} s black-hole partition worker↔broker (TCP proxy, advertised listener); "
                      f"/healthz NOT_SERVING {not_serving_after:.1f} s after the cut, SERVING {serving_after:.1f} s "
                      f"after the heal")
    figures.inputs = LOAD
    figures.acknowledged = len(ledger.acked)
    figures.lost, figures.duplicated, figures.unexpected = (len(verdict.lost), len(verdict.duplicated),
                                                            len(verdict.unexpected))
    figures.codes = {f"healthz:{c}": in_partition.count(c) for c in sorted(set(in_partition))}
    figures.notes = (f"{during} processed when the partition began; worker never restarted; "
                     f"{proxy.connections} proxied connections; lag 0")
    verdict.assert_clean()
    assert 503 in in_partition


async def _unhealthy(w: object) -> bool:
    return await w.healthz() == 503  # type: ignore[attr-defined]
