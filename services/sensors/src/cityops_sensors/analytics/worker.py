"""The Faust side of the worker: decode ReadingRecords → SensorAnalytics → alerts, table, sinks.

At-least-once, in this order for every record: (1) apply it to the in-memory state; (2) publish
its alert transitions and wait for acks=all; (3) write the changed states to the changelog table;
(4) Faust commits the offset later. A crash after (2) replays the record: the state from the
changelog is then older, the same transitions come out again with the same deterministic
alert_id/event_id, and consumers (incidents) drop the duplicate. A crash can never lose an alert,
because the table is written only after the alert was acknowledged.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from typing import Any

import faust

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform.kafka.headers import event_headers
from cityops_platform.kafka.topics import SENSOR_ALERTS, SENSOR_READINGS
from cityops_platform.runtime import Resources
from cityops_sensors import metrics as m
from cityops_sensors.alerts.models import SensorMeta, alert_message
from cityops_sensors.alerts.store import AlertRow, AlertStore
from cityops_sensors.analytics.service import Catalog, Outcome, SensorAnalytics
from cityops_sensors.analytics.sinks import PostgresSink
from cityops_sensors.analytics.store import AnalyticsStore
from cityops_sensors.convert import dt_ms
from cityops_sensors.ingest.models import bucket_key, partition_for
from cityops_sensors.registry.store import SensorStore
from cityops_sensors.rules.engine import LEVEL_NAMES, SensorState
from cityops_sensors.rules.models import Rule
from cityops_sensors.rules.service import RuleBook
from cityops_sensors.rules.store import RuleStore
from cityops_sensors.settings import SensorsSettings

log = logging.getLogger("cityops.sensors.worker")
SLOW_RECORD_S = 0.1  # a record taking longer than this is logged with its stages


FREEZE_MIN_OBJECTS = 1000  # a load at least this big (sensors or recovered states) freezes the heap


def _freeze_long_lived(loaded: int) -> None:
    """After loading ``loaded`` long-lived objects (the registry copy, recovered states), move every
    object alive now out of the cyclic garbage collector's sight. Profiled with 100,000 sensors,
    ``gc_collect_main`` was 11–25 % of the worker's CPU: the rows of a minute boundary pass through the
    sink buffer and trigger full collections, each walking the whole long-lived heap. Frozen objects
    are still freed by reference counting; only garbage *cycles* among them stay, so small loads
    (a few registrations) do not freeze whatever happens to be alive at that moment."""
    if loaded >= FREEZE_MIN_OBJECTS:
        gc.freeze()


class SensorWorker:
    def __init__(self, app: faust.App, res: Resources, table: Any, cfg: SensorsSettings) -> None:
        self.app, self.res, self.table, self.cfg = app, res, table, cfg
        self.catalog = Catalog()
        self.analytics = SensorAnalytics(self.catalog, partitions=SENSOR_READINGS.partitions,
                                         window_grace_ms=cfg.window_grace_seconds * 1000,
                                         checkpoint_rate=cfg.checkpoint_rate,
                                         window_close_rate=cfg.window_close_rate)
        self.readings_topic = f"{res.settings.topic_prefix}{SENSOR_READINGS.name}"
        self._since: Any = None
        self._loaded: set[int] = set()
        self._sink: PostgresSink | None = None
        self._catalog_ready = False
        self._rules: list[Rule] | None = None
        self._changelog = table.changelog_topic.get_topic_name()
        self._stage_apply = m.WORKER_SECONDS.labels("apply")
        self._stage_publish = m.WORKER_SECONDS.labels("publish")
        self._stage_checkpoint = m.WORKER_SECONDS.labels("checkpoint")

    async def wait_resources(self) -> None:
        """Timers and tasks may start before the pool and producer (a sibling service) are open."""
        await self.res.wait_open(producer=True)

    @property
    def sink(self) -> PostgresSink:
        if self._sink is None:
            self._sink = PostgresSink(AnalyticsStore(self.res.db), AlertStore(self.res.db),
                                      flush_seconds=self.cfg.sink_flush_seconds)
        return self._sink

    async def refresh_catalog(self) -> None:
        """Registry changes (incremental) and every rule, into the worker's catalog."""
        await self.wait_resources()
        rows = await SensorStore(self.res.db).changed_since(self._since)
        for r in rows:
            self.catalog.sensors[r["id"]] = SensorMeta(r["id"], r["kind"], r["lat"], r["lon"], r["address"],
                                                       r["district"], r["unit"], r["name"],
                                                       r["reporting_interval_seconds"], r["ward_code"],
                                                       r["ward_name"])
            self._since = r["updated_at"] if self._since is None or r["updated_at"] > self._since else self._since
        rules = await RuleStore(self.res.db).all()
        _freeze_long_lived(len(rows))
        if rules != self._rules:
            # A new book only when the rules changed: the analytics rebuild their per-sensor view then.
            self._rules = rules
            self.catalog.book = RuleBook(rules)
            self.catalog.version += 1
        elif rows:  # only sensors changed: only theirs is rebuilt
            self.analytics.sensors_changed([r["id"] for r in rows])
        self._catalog_ready = True

    def _load_partition(self, partition: int) -> None:
        """Adopt every state of this partition recovered from the changelog (once per assignment)."""
        count = 0
        for key, raw in list(self.table.items()):
            sid = key.decode() if isinstance(key, bytes) else str(key)
            if partition_for(sid, self.analytics.partitions) == partition and raw:
                data = json.loads(raw) if isinstance(raw, bytes | str) else raw
                self.analytics.adopt(sid, SensorState.from_json(data))
                count += 1
        self._loaded.add(partition)
        _freeze_long_lived(count)
        if count:
            log.info("sensor states recovered", extra={"partition": partition, "sensors": count})

    def revoke(self, partitions: list[int]) -> None:
        self.analytics.drop_partitions(partitions)
        self._loaded.difference_update(partitions)

    async def handle(self, rec: pb.ReadingRecord, event: Any) -> None:
        if not self._catalog_ready:
            await self.refresh_catalog()
        partition = event.message.partition
        if partition not in self._loaded:
            self._load_partition(partition)
        t0 = time.perf_counter()
        if rec.tick_at_ms:
            out = self.analytics.tick(partition, rec.tick_at_ms)
        else:
            slots = self.analytics.slots(partition, rec.sensor_ids)
            if not self.analytics.all_known(partition, slots):
                await self.refresh_catalog()  # registered after our last refresh
            ingested = rec.ingested_at_ms
            out = self.analytics.apply(partition, slots, rec.values, rec.observed_at_ms, ingested)
            m.READINGS_PROCESSED.inc(len(slots))
            m.RECORDS_PROCESSED.inc()
            if ingested:
                m.INGEST_TO_PROCESSED.observe(max(0.0, time.time() - ingested[-1] / 1000))
        t1 = time.perf_counter()
        alert_rows = await self._publish(out) if out.transitions else []
        t2 = time.perf_counter()
        if out.checkpoint:
            await self._checkpoint(partition, out.checkpoint)
        if out.aggregates or out.live or alert_rows:
            self.sink.add(out.aggregates, out.live, alert_rows)
        t3 = time.perf_counter()
        self._stage_apply.inc(t1 - t0)
        self._stage_publish.inc(t2 - t1)
        self._stage_checkpoint.inc(t3 - t2)
        if t3 - t0 > SLOW_RECORD_S:
            log.warning("bản ghi xử lý chậm (slow record)", extra={
                "partition": partition, "apply_ms": round((t1 - t0) * 1000), "publish_ms": round((t2 - t1) * 1000),
                "checkpoint_ms": round((t3 - t2) * 1000), "transitions": len(out.transitions),
                "checkpoints": len(out.checkpoint), "aggregates": len(out.aggregates), "tick": bool(rec.tick_at_ms)})

    async def _checkpoint(self, partition: int, states: dict[str, SensorState]) -> None:
        """Write states to the table's changelog, exactly as ``table[sid] = state.to_json()`` would
        (key and value JSON, the table's serializers), straight into the app's producer: Faust's per-message
        table path (buffer, futures, callbacks) cost ~0.1 ms a message and stalled the stream when
        a minute boundary closes every window. Same producer, so Faust's commit still flushes these
        writes before it commits the offsets that produced them (restart safety unchanged), and
        writes of one partition keep their order. The table itself is read only on recovery."""
        send = self.app.producer.send
        topic = self._changelog
        for sid, state in states.items():
            value = json.dumps(state.to_json(), separators=(",", ":")).encode()
            await send(topic, json.dumps(sid).encode(), value, partition, None, None)

    async def _publish(self, out: Outcome) -> list[AlertRow]:
        records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
        rows: list[AlertRow] = []
        for tr in out.transitions:
            alert = alert_message(tr, self.catalog.sensors.get(tr.sensor_id))
            payload = alert.SerializeToString()
            event_type = "SensorAlertRaised" if tr.state == "RAISED" else "SensorAlertCleared"
            records.append((SENSOR_ALERTS.name, tr.sensor_id.encode(), payload,
                            event_headers(tr.event_id, event_type, "sensors-worker")))
            rows.append((tr.alert_id, tr.sensor_id, tr.rule.kind, tr.rule.id, tr.state, LEVEL_NAMES[tr.level],
                         dt_ms(tr.raised_at_ms), dt_ms(tr.cleared_at_ms) if tr.cleared_at_ms else None, payload))
            m.ALERTS_EMITTED.labels(tr.state).inc()
        await self.res.kafka.send_many(records)
        return rows

    async def send_ticks(self) -> None:
        """One tick record into every readings partition this worker owns (see ReadingRecord.tick_at_ms)."""
        if self.res.producer is None:
            return
        try:
            assigned = [tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.readings_topic]
        except Exception:  # not started or mid-rebalance: the next tick will do
            return
        now = time.time_ns() // 1_000_000
        await asyncio.gather(*(
            self.res.kafka.send(SENSOR_READINGS.name, pb.ReadingRecord(tick_at_ms=now, batch_id=f"tick-{p}-{now}")
                                .SerializeToString(), key=bucket_key(p), partition=p)
            for p in assigned
        ))
