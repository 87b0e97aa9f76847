"""The intake batch on the real Postgres: 50 reports filed as ONE batch give exactly what filing them
one by one gives — fusion with incidents filed before the batch and with incidents created earlier in
the same batch, replays of keys filed before and inside it, an escalation by report count (and none
for one person repeating a report), an attached call, a cross-category merge, gap-free numbers —
and the batch costs a few statements whatever its size (issue 13), not round trips per report."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.devstack import PostgresServer
from cityops_incidents.incidents.batch import IntakeBatcher
from cityops_incidents.incidents.intake import report_in_tx
from cityops_incidents.incidents.models import OPEN_STATUSES, Actor, ReportIn, ReportOutcome
from cityops_incidents.incidents.store import _READ_BATCH
from cityops_incidents.rules import Rules, load_rules
from cityops_incidents.settings import LOCAL_PHONE_HASH_KEY
from cityops_incidents.text import phone_hash
from cityops_platform.db.migrations import migrate
from cityops_platform.db.pool import create_pool
from cityops_platform.errors import NotFound
from cityops_platform.runtime import migrations_dir

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # one clock for both runs: SLA deadlines compare equal
ACTOR = Actor("call-taker-7", "call_taker")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
A, B = (10.980, 106.655), (10.990, 106.655)  # Thủ Dầu Một


def rep(key: str, category: str, at: tuple[float, float], description: str, **kw: Any) -> ReportIn:
    return ReportIn(category=category, source=kw.pop("source", "HOTLINE_1022"), lat=at[0], lon=at[1],
                    idempotency_key=key, description=description, address="Đại lộ Bình Dương", **kw)


def before_batch() -> list[ReportIn]:
    return [rep("pre-0", "FIELD_REPORT", A, "Ổ gà"),
            rep("pre-1", "FLOOD", B, "Ngập nước sâu 40 cm"),
            rep("pre-2", "ADMINISTRATIVE_PROCEDURE", A, "Hỏi thủ tục cấp phép")]


def the_batch(flood_id: str) -> list[ReportIn]:
    """50 reports; ``flood_id`` is the FLOOD incident filed before the batch (a call attached to it)."""
    out = [rep("b-00", "FIELD_REPORT", (A[0] + 0.0002, A[1]), "Ổ gà"),  # merges into pre-0 …
           rep("b-01", "FIELD_REPORT", (A[0] - 0.0002, A[1]), "Ổ gà"),  # … whose third reporter escalates it
           rep("pre-2", "ADMINISTRATIVE_PROCEDURE", A, "Hỏi thủ tục cấp phép")]  # replay of a stored report
    for c in range(10):  # an incident created in the batch, then two reports fusing into it
        spot = (11.000 + 0.01 * c, 106.700)
        out += [rep(f"c{c}-{m}", "FIELD_REPORT", (spot[0] + 0.0003 * m, spot[1]), f"Cây đổ chắn đường số {c}")
                for m in range(3)]
    out += [rep(f"c{c}-0", "FIELD_REPORT", (11.000 + 0.01 * c, 106.700), f"Cây đổ chắn đường số {c}")
            for c in (0, 3, 5, 7, 9)]  # replays of keys filed earlier in this batch
    # One person three times: no escalation by count (the service sets the phone's hash before filing).
    phone = {"reporter_phone": "0912 345 678", "reporter_phone_hash": phone_hash(LOCAL_PHONE_HASH_KEY.encode(),
                                                                                 "0912 345 678")}
    out += [rep(f"p-{i}", "FIELD_REPORT", (10.960, 106.640 + 0.0001 * i), "Ổ gà", **phone) for i in range(3)]
    out += [rep("x-flood", "FIELD_REPORT", (B[0] + 0.0003, B[1]), "Đường ngập nước sâu"),  # FIELD_REPORT ≈ FLOOD
            rep("x-attach", "FIELD_REPORT", (B[0] + 0.02, B[1]), "Gọi lại về điểm ngập", attach_to=flood_id)]
    out += [rep(f"adm-{i}", "ADMINISTRATIVE_PROCEDURE", A, f"Hỏi thủ tục số {i}") for i in range(3)]
    out += [rep("ovr", "FIELD_REPORT", (10.950, 106.620), "Sụt lún mặt đường", priority_override=1),
            rep("ovr-near", "FIELD_REPORT", (10.9503, 106.620), "Sụt lún mặt đường"),
            rep("sensor", "FLOOD", (B[0] - 0.0003, B[1]), "Cảnh báo cảm biến mực nước", source="SENSOR",
                sensor_alert_id="alert-1", sensor_level="CRITICAL"),
            rep("power", "UTILITY_OUTAGE", (10.970, 106.660), "Mất điện cả khu phố")]
    assert len(out) == 50
    return out


class Db:
    def __init__(self, pool: asyncpg.Pool, rules: Rules) -> None:
        self.pool, self.rules = pool, rules

    async def file_one_by_one(self, reports: list[ReportIn], start: int = 0) -> list[ReportOutcome]:
        out = []
        for i, r in enumerate(reports, start):
            async with self.pool.acquire() as conn, conn.transaction():
                out.append(await report_in_tx(conn, rules=self.rules, r=r, actor=ACTOR, now=NOW + timedelta(
                    milliseconds=i)))
        return out

    async def state(self) -> dict[str, Any]:
        """Everything the reports wrote, without the random ids."""
        async with self.pool.acquire() as conn:
            incidents = await conn.fetch(
                "SELECT number, category, subcategory, priority, status, report_count, sources, agency, version, "
                "escalation_level, sla_stage, sla_due_at, sla_warn_at, sla_priority, created_at, updated_at, "
                "occurred_at, last_report_at, external_ids, open_alert_ids, ward_code, ward_name, h3_cell, "
                "search_text, description FROM incidents ORDER BY number")
            reports = await conn.fetch(
                "SELECT r.idempotency_key, i.number, r.merged, r.distance_m, r.source, r.reporter_phone, "
                "r.reporter_phone_hash, r.reporter_phone_masked, "
                "r.received_at FROM reports r JOIN incidents i ON i.id = r.incident_id ORDER BY r.idempotency_key")
            timeline = await conn.fetch(
                "SELECT i.number, t.at, t.actor_subject, t.action, t.before, t.after, t.detail, t.version "
                "FROM timeline t JOIN incidents i ON i.id = t.incident_id ORDER BY t.id")
            outbox = await conn.fetch("SELECT topic, value, headers FROM outbox ORDER BY id")
            counters = await conn.fetch("SELECT prefix, day, last_value FROM number_sequences ORDER BY day")
        events = []
        for row in outbox:
            event = pb.IncidentEvent.FromString(row["value"])
            events.append((row["topic"], event.incident_number, event.WhichOneof("body"), event.incident.version,
                           event.incident.report_count, event.incident.priority, event.incident.sla_stage,
                           [k for k, _ in row["headers"]]))
        return {
            "incidents": [dict(r) for r in incidents],
            "reports": [dict(r) for r in reports],
            "timeline": [{**dict(r), "detail": UUID_RE.sub("<id>", r["detail"])} for r in timeline],
            "events": events,
            "counters": [dict(r) for r in counters],
        }


def outcome_facts(o: ReportOutcome) -> tuple[Any, ...]:
    i = o.incident
    return (i.number, o.merged, o.replayed, i.report_count, i.priority, i.version, i.escalation_level,
            i.sources, i.sla_stage, i.sla_due_at, i.last_report_at, i.open_alert_ids)


@pytest.fixture
async def two_databases(postgres_server: PostgresServer) -> AsyncIterator[tuple[Db, Db]]:
    if not postgres_server.is_running:
        postgres_server.restart()
    rules = load_rules()
    names, pools = [], []
    try:
        for side in ("batch", "single"):
            name = f"t_{side}_{uuid.uuid4().hex[:10]}"
            dsn = postgres_server.create_database(name)
            names.append(name)
            await migrate(dsn, "incidents", migrations_dir("incidents"))
            # One connection: every statement of the batch passes through the one query logger.
            pools.append(await create_pool(dsn, "incidents", min_size=1, max_size=1))
        yield Db(pools[0], rules), Db(pools[1], rules)
    finally:
        for pool in pools:
            await pool.close()
        for name in names:
            postgres_server.drop_database(name)


async def test_a_batch_of_50_equals_filing_one_by_one_in_a_few_statements(two_databases: tuple[Db, Db]) -> None:
    batched, single = two_databases
    pre_b = await batched.file_one_by_one(before_batch()[:2])
    pre_s = await single.file_one_by_one(before_batch()[:2])
    batcher = IntakeBatcher(pool=batched.pool, rules=batched.rules)
    # A first batch on the batch side: the driver learns the parameter types once per connection (its
    # introspection queries are not the batch's statements).
    last = before_batch()[2]
    pre_b.append(await batcher.file(last, actor=ACTOR, now=NOW + timedelta(milliseconds=2)))
    pre_s += await single.file_one_by_one([last], start=2)

    statements: list[str] = []

    def log(query: Any) -> None:
        statements.append(query.query)

    async with batched.pool.acquire() as conn:
        conn.add_query_logger(log)
    reports = the_batch(pre_b[1].incident.id)
    # Queued in one go (each call enqueues before the batch runner first runs): ONE batch of 50.
    got = await asyncio.gather(*(batcher.file(r, actor=ACTOR, now=NOW + timedelta(milliseconds=i))
                                 for i, r in enumerate(reports, 3)))
    await asyncio.sleep(0.05)  # the query logger is called soon after each statement, not during it
    async with batched.pool.acquire() as conn:
        conn.remove_query_logger(log)
    in_batch = list(statements)
    expected = await single.file_one_by_one(the_batch(pre_s[1].incident.id), start=3)

    assert [outcome_facts(o) for o in got] == [outcome_facts(o) for o in expected]
    assert await batched.state() == await single.state()

    # The batch is what the test says it is (fusion inside it, replays, the escalation, no gap) …
    facts = Counter((o.merged, o.replayed) for o in got)
    assert facts[(True, False)] >= 25 and facts[(False, True)] == 6 and facts[(True, True)] == 0
    assert got[1].incident.escalation_level == 1 and got[1].incident.number == pre_b[0].incident.number
    assert got[-3].incident.id == got[-4].incident.id and got[-4].incident.priority == 1  # a merge into P1
    assert all(o.incident.escalation_level == 0 for o in got[38:41])  # one reporter, three reports
    numbers = sorted({o.incident.number for o in got} | {o.incident.number for o in pre_b})
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == list(range(1, len(numbers) + 1))
    # … and it ran in ONE transaction of a few statements: the locks, one read, one reporter count
    # per incident filed before the batch that could escalate (here two), one write — not ~2 per report.
    assert sum(q.startswith("BEGIN") for q in in_batch) == 1, in_batch
    assert len(in_batch) <= 7, "\n---\n".join(q[:300] for q in in_batch)


async def test_a_failing_report_fails_alone_and_the_rest_of_its_batch_is_filed(database_url: str) -> None:
    await migrate(database_url, "incidents", migrations_dir("incidents"))
    pool = await create_pool(database_url, "incidents", min_size=1, max_size=2)
    try:
        batcher = IntakeBatcher(pool=pool, rules=load_rules())
        reports = [rep(f"ok-{i}", "FIELD_REPORT", (11.0 + 0.01 * i, 106.7), "Cây đổ") for i in range(4)]
        reports.insert(2, rep("gone", "FIELD_REPORT", A, "Gọi lại", attach_to=str(uuid.uuid4())))
        got = await asyncio.gather(*(batcher.file(r, actor=ACTOR, now=NOW) for r in reports), return_exceptions=True)
        assert isinstance(got[2], NotFound), got[2]
        filed = [g for i, g in enumerate(got) if i != 2]
        assert all(isinstance(g, ReportOutcome) and not g.merged for g in filed), filed
        numbers = sorted(g.incident.number for g in filed)  # type: ignore[union-attr]
        assert [int(n.rsplit("-", 1)[1]) for n in numbers] == [1, 2, 3, 4]  # the rolled-back batch left no gap
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM reports") == 4
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 4
    finally:
        await pool.close()


async def test_the_batch_read_probes_the_open_cell_index_even_with_the_drivers_cached_plan(
    two_databases: tuple[Db, Db],
) -> None:
    """asyncpg reuses a prepared statement's plan; once Postgres switches it to a generic plan the
    parameters are unknown. The candidate search must still probe the open-cell index once per
    searched pair, never scan the incidents table per pair (a surge took 1.6 s per batch that way)."""
    db = two_databases[0]
    cells = [f"8965{i:011x}" for i in range(200)]
    since = (NOW - timedelta(hours=1)).isoformat()

    def array(values: list[str], kind: str) -> str:  # plain ASCII values: a literal needs no escaping
        return "ARRAY[" + ",".join(f"'{v}'" for v in values) + f"]::{kind}[]"

    params = [array(["FIRE"] * len(cells), "text"), array(cells, "text"), array([since] * len(cells), "timestamptz"),
              array(list(OPEN_STATUSES), "text"), array([], "uuid"), "'BD'", array([NOW.date().isoformat()], "date"),
              array(["k"], "text")]
    async with db.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        # A city in a surge: thousands of open incidents (an empty table is scanned whatever the query).
        await conn.execute(
            "INSERT INTO incidents (id, number, category, priority, status, lat, lon, h3_cell, agency, created_at, "
            "updated_at, occurred_at, last_report_at) SELECT gen_random_uuid(), 'PLAN-' || g, "
            "(ARRAY['FIRE', 'FLOOD', 'FIELD_REPORT', 'OTHER'])[1 + g % 4], 3, 'NEW', 11, 106.6, "
            "'89' || lpad(to_hex(g), 13, '0'), 'PUBLIC_WORKS', now(), now(), now(), now() "
            "FROM generate_series(1, 8000) g")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE batch_read(text[], text[], timestamptz[], text[], uuid[], text, date[], text[]) "
                           f"AS {_READ_BATCH}")
        try:
            plan = json.dumps(await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE batch_read({', '.join(params)})"))
        finally:
            await tx.rollback()  # the incidents were the test's own
            await conn.execute("DEALLOCATE ALL")  # a prepared statement outlives its transaction
    assert "incidents_open_cell" in plan, plan
    scans = re.findall(r'"Node Type": "([^"]+)", "Parent Relationship": "[^"]+", "Parallel Aware": \w+, '
                       r'"Async Capable": \w+, "Relation Name": "incidents"', plan)
    assert scans and "Seq Scan" not in scans, scans
