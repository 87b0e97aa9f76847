"""Scenario 3: Postgres crashes (kill -9) and restarts under a ReportIncident load.

Clients retry UNAVAILABLE with the same idempotency key, as the API asks. During the outage the
api answers UNAVAILABLE, never INTERNAL/UNKNOWN; afterwards every acknowledged report exists
exactly once and the outbox resumes: every incident is announced on Kafka exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_devtools.devstack import KafkaBroker
from cityops_devtools.testing import bearer, eventually, incidents_reported
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from ._checker import Ledger, client_key, forbidden
from ._load import report_request, report_until_acked
from ._remote import RemoteServer
from ._stack import inprocess_api, prepare, read_topic
from .conftest import Figures, settings_on

LOAD = 1000
CLIENTS = 16
DOWN_S = 5.0


@pytest.mark.timeout(400)
async def test_postgres_restart_under_load_loses_nothing_and_never_answers_internal(
    kafka_broker: KafkaBroker, remote_postgres: RemoteServer, tmp_path: Path, figures: Figures
) -> None:
    pg = remote_postgres
    if not kafka_broker.is_running:
        kafka_broker.restart()
    s = settings_on(kafka_broker, pg)
    await prepare(s, "incidents")
    ledger = Ledger("ReportIncident → reports")
    md = bearer(s, "call_taker")
    run = f"pg-{time.time_ns()}"
    keys = [f"{run}-{n}" for n in range(LOAD)]
    outage: dict[str, float] = {}

    async with inprocess_api("incidents", s) as channel:
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(LOAD):
            queue.put_nowait(n)

        async def client() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                await report_until_acked(stub, md, report_request(keys[n], n, LOAD), ledger, deadline_s=120)

        async def fault() -> None:
            await eventually(lambda: len(ledger.acked) >= LOAD * 3 // 10, timeout=200, interval=0.05)
            outage["at_acked"] = len(ledger.acked)
            t0 = time.monotonic()
            await pg.akill()
            await asyncio.sleep(DOWN_S)
            await pg.arestart()
            outage["down_s"] = time.monotonic() - t0

        await asyncio.gather(fault(), *(client() for _ in range(CLIENTS)))

        db = await asyncpg.connect(s.database_url)
        try:
            found = [client_key(r[0]) for r in await db.fetch("SELECT idempotency_key FROM incidents.reports")]
            incidents = {str(r[0]) for r in await db.fetch("SELECT id FROM incidents.incidents")}

            async def outbox_drained() -> bool:
                return await db.fetchval("SELECT count(*) FROM incidents.outbox WHERE published_at IS NULL") == 0

            await eventually(outbox_drained, timeout=60, interval=0.5)
        finally:
            await db.close()

    records = await read_topic(s.kafka_bootstrap, INCIDENT_EVENTS.full_name(s.topic_prefix))
    announced = incidents_reported(records)
    events = Ledger("incidents → IncidentReported")
    events.acked = incidents
    event_verdict = events.check(i for i, ids in announced.items() for _ in ids)
    verdict = ledger.check(found)

    figures.load = f"{LOAD} ReportIncident calls by {CLIENTS} concurrent clients (in-process incidents api)"
    figures.faults = (f"Postgres kill -9 at {outage.get('at_acked')} acknowledged, back after "
                      f"{outage.get('down_s', 0):.1f} s")
    figures.inputs = ledger.calls
    figures.acknowledged = len(ledger.acked)
    figures.lost = len(verdict.lost) + len(event_verdict.lost)
    figures.duplicated = len(verdict.duplicated) + len(event_verdict.duplicated)
    figures.unexpected = len(verdict.unexpected) + len(event_verdict.unexpected)
    figures.codes = dict(ledger.codes)
    figures.notes = (f"{ledger.codes['OK']} OK answers for {len(ledger.acked)} keys; {len(records)} records on "
                     f"incidents.events, {len(announced)} incidents announced; outbox drained")
    assert not forbidden(ledger), ledger.codes
    assert ledger.codes.get("UNAVAILABLE", 0) > 0, "the outage was not observed by any client"
    verdict.assert_clean()
    event_verdict.assert_clean()
    assert len(ledger.acked) == LOAD, f"{LOAD - len(ledger.acked)} reports never acknowledged: {ledger.codes}"
