"""FindCallerReports on the real api and Postgres: a caller is found by the keyed hash of the
phone whatever form it was typed in, the number is stored nowhere in the incidents schema, and
rows from before migration 175 are hashed and emptied by the api."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import asyncpg
import grpc
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.city import CLI
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import bearer, fresh_settings
from cityops_incidents.incidents import report_store
from cityops_incidents.settings import LOCAL_PHONE_HASH_KEY
from cityops_incidents.text import phone_hash

from .conftest import Api, api_on, prepare, report_request

pytestmark = pytest.mark.integration
DIGITS = "939271555"  # the subscriber part of the test number: in no stored column, in any form


async def _holding(conn: asyncpg.Connection, digits: str) -> list[str]:
    """The columns of the incidents schema where ``digits`` appear (separators ignored)."""
    out = []
    for table, column, expr in await _text_columns(conn):
        if await conn.fetchval(
                f"SELECT count(*) FROM \"{table}\" WHERE regexp_replace({expr}, '\\D', '', 'g') LIKE '%{digits}%'"):
            out.append(f"{table}.{column}")
    return out


async def _text_columns(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    """Every column of the incidents schema that could hold a number, as a SQL text expression."""
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'incidents' "
        "AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY')"
    )
    return [(r["table_name"], r["column_name"], f"encode(\"{r['column_name']}\", 'escape')" if r["data_type"] == "bytea"
             else f"\"{r['column_name']}\"::text") for r in rows]


async def test_caller_found_by_any_form_and_number_stored_nowhere(api: Api, database_url: str) -> None:
    md = api.md("call_taker", "ct-lookup")
    first = await api.stub.ReportIncident(
        report_request(description="Ngập sâu trước chợ", reporter=pb.Reporter(phone="0939 271 555")), metadata=md)
    second = await api.stub.ReportIncident(
        report_request(lat=11.05, lon=106.70, description="Cây đổ chắn đường",
                       reporter=pb.Reporter(phone="+84939271555")), metadata=md)
    await api.stub.ReportIncident(
        report_request(lat=11.06, lon=106.71, reporter=pb.Reporter(phone="0939271556")), metadata=md)

    found = await api.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="84 939.271.555"), metadata=md)
    assert {r.report_id for r in found.reports} == {first.report_id, second.report_id}
    assert {r.reporter_phone_masked for r in found.reports} == {"09xx xxx 555"}
    assert [r.received_at.ToDatetime() for r in found.reports] == sorted(
        (r.received_at.ToDatetime() for r in found.reports), reverse=True)

    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        stored = await conn.fetch("SELECT reporter_phone, reporter_phone_hash, reporter_phone_masked FROM reports "
                                  "WHERE id = ANY($1::uuid[])", [first.report_id, second.report_id])
        assert {r["reporter_phone"] for r in stored} == {""}
        assert {r["reporter_phone_hash"] for r in stored} == {phone_hash(LOCAL_PHONE_HASH_KEY.encode(), "0939271555")}
        assert await _holding(conn, DIGITS) == []
        await conn.execute("SET enable_seqscan = off")  # a few rows: make the planner show the index it can use
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT id FROM reports WHERE reporter_phone_hash = 'x' ORDER BY received_at DESC LIMIT 20"))
        assert "reports_phone_hash" in plan, plan
    finally:
        await conn.close()


async def test_old_rows_are_hashed_and_emptied(api: Api, database_url: str) -> None:
    md = api.md("call_taker", "ct-legacy")
    base = await api.stub.ReportIncident(report_request(lat=11.07, lon=106.72), metadata=md)
    legacy_id = str(uuid.uuid4())
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        # A row as the api wrote it before migration 175: the number in plain text, no hash.
        await conn.execute(
            "INSERT INTO reports (id, incident_id, idempotency_key, merged, source, category, lat, lon, "
            "reporter_phone, occurred_at, received_at) SELECT $1, incident_id, $2, true, source, category, lat, lon, "
            "'+84 939 271 777', occurred_at, received_at FROM reports WHERE id = $3",
            legacy_id, f"legacy-{legacy_id}", base.report_id)
        assert await _holding(conn, "939271777") == ["reports.reporter_phone"]  # the scan does see a number
        pool = await asyncpg.create_pool(database_url, server_settings={"search_path": "incidents"},
                                         min_size=1, max_size=2)
        try:
            assert await report_store.hash_legacy_phones(pool, LOCAL_PHONE_HASH_KEY.encode()) >= 1
        finally:
            await pool.close()
        row = await conn.fetchrow("SELECT reporter_phone, reporter_phone_masked FROM reports WHERE id = $1", legacy_id)
        assert (row["reporter_phone"], row["reporter_phone_masked"]) == ("", "09xx xxx 777")
        assert await _holding(conn, "939271777") == []
    finally:
        await conn.close()
    found = await api.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="0939271777"), metadata=md)
    assert [r.report_id for r in found.reports] == [legacy_id]


async def test_a_missing_or_short_phone_is_invalid(api: Api) -> None:
    for request in (pb.FindCallerReportsRequest(phone_sha256="a" * 64), pb.FindCallerReportsRequest(phone="0912")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.stub.FindCallerReports(request, metadata=api.md("call_taker"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "0912" not in (err.value.details() or "")


NEW_KEY = "rotated-phone-hash-key-0123456789abcdef"


async def _hashes(database_url: str, report_ids: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        rows = await conn.fetch("SELECT id::text, reporter_phone_hash FROM reports WHERE id = ANY($1::uuid[])",
                                report_ids)
        return {r["id"]: r["reporter_phone_hash"] for r in rows}
    finally:
        await conn.close()


async def test_after_a_key_rotation_callers_are_found_under_the_previous_key_and_re_hashed(
        api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    md = api.md("call_taker", "ct-rotation")
    # Filed under the key in use until now (local: the public local key).
    before = await api.stub.ReportIncident(
        report_request(lat=11.08, lon=106.73, reporter=pb.Reporter(phone="0939 271 888")), metadata=md)
    never_called = await api.stub.ReportIncident(
        report_request(lat=11.09, lon=106.74, reporter=pb.Reporter(phone="0939 271 999")), metadata=md)
    old = LOCAL_PHONE_HASH_KEY.encode()

    # The city rotates: the new key is current, the old one previous (the chart's phoneHashKey.previous).
    monkeypatch.setenv("CITYOPS_INCIDENTS_PHONE_HASH_KEY", NEW_KEY)
    monkeypatch.setenv("CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS", LOCAL_PHONE_HASH_KEY)
    async with api_on(api.settings) as rotated:
        after = await rotated.stub.ReportIncident(
            report_request(lat=11.10, lon=106.75, reporter=pb.Reporter(phone="+84939271888")), metadata=md)
        assert (await _hashes(database_url, [before.report_id, after.report_id])) == {
            before.report_id: phone_hash(old, "0939271888"),
            after.report_id: phone_hash(NEW_KEY.encode(), "0939271888")}
        found = await rotated.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="0939271888"), metadata=md)
        assert [r.report_id for r in found.reports] == [after.report_id, before.report_id]
        # The lookup re-hashed this caller's old row with the current key; the other caller's stays.
        assert await _hashes(database_url, [before.report_id, never_called.report_id]) == {
            before.report_id: phone_hash(NEW_KEY.encode(), "0939271888"),
            never_called.report_id: phone_hash(old, "0939271999")}

    # The previous key retired: what was re-hashed is still found, a row never looked up is not.
    monkeypatch.delenv("CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS")
    async with api_on(api.settings) as retired:
        found = await retired.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="0939271888"), metadata=md)
        assert {r.report_id for r in found.reports} == {before.report_id, after.report_id}
        lost = await retired.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="0939271999"), metadata=md)
        assert list(lost.reports) == []


def _status_table(env: dict[str, str]) -> dict[str, int]:
    """`cityops phone-keys status` as a process: its table as {first words of the label: count}."""
    done = subprocess.run([*CLI, "phone-keys", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = {}
    for line in done.stdout.splitlines():
        match = re.match(r"^(.*?)\s{2,}(\d+)$", line)
        if match:
            table[" ".join(match.group(1).split()[:3])] = int(match.group(2))
    return table


async def test_phone_keys_status_counts_the_reports_by_key(
        kafka_broker: KafkaBroker, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, name = fresh_settings(kafka_broker, postgres_server)  # its own database: exact counts
    try:
        await prepare(settings)
        md = bearer(settings, "call_taker", "ct-status")
        async with api_on(settings) as before:
            for n, phone in enumerate(("0939271111", "0939271222", "0939271333")):
                await before.stub.ReportIncident(report_request(lat=11.0 + n / 50, lon=106.7,
                                                                reporter=pb.Reporter(phone=phone)), metadata=md)
        conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": "incidents"})
        try:  # one row as hashed before migration 180: no key fingerprint
            await conn.execute("UPDATE reports SET reporter_phone_key_id = '' WHERE reporter_phone_hash = $1",
                               phone_hash(LOCAL_PHONE_HASH_KEY.encode(), "0939271222"))
        finally:
            await conn.close()
        monkeypatch.setenv("CITYOPS_INCIDENTS_PHONE_HASH_KEY", NEW_KEY)
        monkeypatch.setenv("CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS", LOCAL_PHONE_HASH_KEY)
        async with api_on(settings) as rotated:
            await rotated.stub.ReportIncident(report_request(lat=11.2, lon=106.7, reporter=pb.Reporter(
                phone="0939271444")), metadata=md)
            await rotated.stub.FindCallerReports(pb.FindCallerReportsRequest(phone="0939271111"), metadata=md)
        env = {**os.environ, "CITYOPS_DATABASE_URL": settings.database_url}
        assert _status_table(env) == {
            "khóa hiện tại": 2,  # the new report and the caller looked up since
            "khóa trước (previous": 1,  # never looked up: lost if the previous key is retired
            "khóa không rõ:": 1, "khóa khác: không": 0, "số chưa băm:": 0, "tổng (total)": 4,
        }
    finally:
        postgres_server.drop_database(name)
