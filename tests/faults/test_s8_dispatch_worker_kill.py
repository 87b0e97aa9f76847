"""Scenario 8: kill -9 the dispatch worker mid-assignment (at ~30 % of the P1 incidents assigned),
then restart it.

Acknowledged write = a P1 IncidentEvent the broker acknowledged (acks=all), as the incidents relay
would publish it. Read back: the dispatch schema and ``dispatch.events``. Every P1 incident must end
with exactly one active assignment (its run card asks for one ALS unit; none is left unassigned); no
unit may ever hold two active assignments — checked continuously while the worker runs, dies and
restarts (the database), and over the whole history (every UnitAssigned record: one assignment per
unit, as no unit is ever released here); every assignment is announced once (by event id).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.dispatch.v1 import events_pb2 as devents
from cityops.incidents.v1 import events_pb2 as ievents
from cityops_devtools.testing import at_least, bearer, eventually
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS
from cityops_platform.settings import Settings

from ._checker import Ledger
from ._load import grid_point, incident_records, produce
from ._stack import consumer_lag, group_of, inprocess_api, read_topic, worker
from .conftest import Figures

SERVICES = ("dispatch",)  # the `prepared` fixture applies their topics and schemas
LOAD = int(os.environ.get("CITYOPS_FAULTS_P1", "300"))
# Enough ALS units that no incident waits for one: a wait would be a retry, not a crash effect.
UNITS = LOAD + 30
ACTIVE = (1, 2, 3, 4)  # AssignmentStatus ASSIGNED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE


def p1_event(n: int, run: str) -> ievents.IncidentEvent:
    lat, lon = grid_point(n, LOAD)
    incident_id = str(uuid.uuid4())
    inc = ievents.Incident(
        id=incident_id, number=f"BD-S8{run}-{n:06d}", category=ievents.CATEGORY_EMERGENCY_MEDICAL,
        priority=ievents.PRIORITY_P1, status=ievents.STATUS_NEW, description="Người đàn ông ngã quỵ, bất tỉnh",
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Đại lộ Bình Dương"), report_count=1, version=1,
        district="Thủ Dầu Một",
    )
    now = datetime.now(UTC)
    inc.created_at.FromDatetime(now)
    inc.updated_at.FromDatetime(now)
    event = ievents.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident_id, incident_number=inc.number,
                                  incident=inc, actor=common_pb2.Actor(subject="system:incidents", role="system"),
                                  reported=ievents.IncidentReported(source=ievents.SOURCE_HOTLINE_1022))
    event.occurred_at.FromDatetime(now)
    return event


@pytest.mark.timeout(600)
async def test_dispatch_worker_killed_mid_assignment_never_double_books_a_unit_nor_leaves_a_p1_unassigned(
    prepared: Settings, run: str, tmp_path: Path, figures: Figures
) -> None:
    s = prepared
    db = await asyncpg.connect(s.database_url)
    watch_db = await asyncpg.connect(s.database_url)  # its own connection: it runs beside the test's queries
    double_booked: list[tuple[str, int]] = []
    samples = 0
    stop_watch = asyncio.Event()

    async def watch_units() -> None:
        # The invariant at every moment, not only at the end.
        nonlocal samples
        while not stop_watch.is_set():
            rows = await watch_db.fetch("SELECT unit_id, count(*) AS n FROM dispatch.assignments "
                                  "WHERE status = ANY($1::int[]) GROUP BY unit_id HAVING count(*) > 1", list(ACTIVE))
            double_booked.extend((str(r["unit_id"]), int(r["n"])) for r in rows)
            samples += 1
            await asyncio.sleep(0.05)

    ledger = Ledger("P1 incident events → active assignment")
    w = worker("dispatch", s, tmp_path, CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS="3600")
    watcher: asyncio.Task[None] | None = None
    try:
        async with inprocess_api("dispatch", s) as channel:
            stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
            admin = bearer(s, "admin")
            for i in range(UNITS):
                lat, lon = grid_point(i, UNITS)
                unit = dispatch_pb2.Unit(
                    id=f"s8-{run}-{i:04d}", call_sign=f"CC115-S8-{run}-{i:04d}", agency=common_pb2.AGENCY_MEDICAL_115,
                    capabilities=["ALS", "BLS"], unit_type="AMBULANCE", status=dispatch_pb2.UNIT_STATUS_AVAILABLE,
                    location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Trạm thử S8"))
                await stub.RegisterUnit(dispatch_pb2.RegisterUnitRequest(unit=unit), metadata=admin, timeout=30)

            events = [p1_event(n, run) for n in range(LOAD)]
            topic = INCIDENT_EVENTS.full_name(s.topic_prefix)
            await produce(s.kafka_bootstrap, topic, incident_records(events, lambda e: e.incident_id), ledger)
            figures.load = f"{LOAD} P1 incidents (1 ALS each), {UNITS} units, one dispatch worker"

            async def assigned() -> int:
                return int(await db.fetchval(
                    "SELECT count(DISTINCT incident_id) FROM dispatch.assignments WHERE status = ANY($1::int[])",
                    list(ACTIVE)))

            watcher = asyncio.create_task(watch_units())
            t0 = time.monotonic()
            w.start()
            at_kill = await eventually(lambda: at_least(assigned, int(LOAD * 0.3)), timeout=300, interval=0.02)
            w.kill()
            t_kill = time.monotonic()
            assert at_kill < LOAD, "the worker finished before the kill: nothing was interrupted"
            w.start()
            await eventually(lambda: at_least(assigned, LOAD), timeout=400, interval=0.5)
            t_done = time.monotonic()
            await asyncio.sleep(3)  # records redelivered after the crash must change nothing
            assert w.alive, w.tail()
            stop_watch.set()
            await watcher
            rows = await db.fetch("SELECT id, incident_id, unit_id, status FROM dispatch.assignments")
    finally:
        stop_watch.set()
        if watcher is not None and not watcher.done():
            watcher.cancel()
        w.terminate()
        await db.close()
        await watch_db.close()

    active = [r for r in rows if r["status"] in ACTIVE]
    verdict = ledger.check(str(r["incident_id"]) for r in active)  # lost = a P1 left unassigned
    per_unit = Counter(str(r["unit_id"]) for r in active)
    # The history: every UnitAssigned ever published, de-duplicated by event id (a relay may publish
    # a row twice after a crash, with the same id).
    records = await read_topic(s.kafka_bootstrap, DISPATCH_EVENTS.full_name(s.topic_prefix))
    announced: dict[str, set[str]] = {}  # assignment id → event ids
    unit_assignments: dict[str, set[str]] = {}  # unit id → assignment ids ever assigned
    for rec in records:
        event = devents.DispatchEvent()
        event.ParseFromString(rec.value)
        if event.WhichOneof("body") == "unit_assigned" and event.incident_id in ledger.acked:
            announced.setdefault(event.assignment_id, set()).add(event.event_id)
            unit_assignments.setdefault(event.unit_id or event.unit.id, set()).add(event.assignment_id)
    stored = {str(r["id"]) for r in rows}
    event_ledger = Ledger("assignments → UnitAssigned")
    event_ledger.acked = stored
    event_verdict = event_ledger.check(a for a, ids in announced.items() for _ in ids)
    twice_in_history = {u: a for u, a in unit_assignments.items() if len(a) > 1}
    lag = await consumer_lag(s.kafka_bootstrap, group_of("dispatch", s), [topic])

    figures.inputs = LOAD
    figures.acknowledged = len(ledger.acked)
    figures.lost = len(verdict.lost) + len(event_verdict.lost)
    figures.duplicated = len(verdict.duplicated) + len(event_verdict.duplicated)
    figures.unexpected = len(verdict.unexpected) + len(event_verdict.unexpected)
    figures.faults = f"1 kill -9 of the dispatch worker at {at_kill}/{LOAD} incidents assigned, 1 restart"
    figures.codes = dict(Counter({"kafka-acked": len(ledger.acked)}))
    figures.notes = (f"all assigned {t_done - t_kill:.0f} s after the kill ({t_done - t0:.0f} s in all); "
                     f"{len(rows)} assignment rows, {sum(len(v) for v in announced.values())} UnitAssigned records; "
                     f"{samples} samples of the one-active-assignment-per-unit invariant; lag {lag[topic]}")
    assert not double_booked, f"units with two active assignments: {double_booked[:5]}"
    assert max(per_unit.values(), default=0) <= 1
    assert not twice_in_history, f"units assigned twice: {list(twice_in_history.items())[:5]}"
    verdict.assert_clean()
    event_verdict.assert_clean()
    assert len(ledger.acked) == LOAD
    assert lag[topic] == 0
