"""Idempotency keys of TransitionIncident and AddNote on the real api and Postgres: the console's
offline outbox may send a change twice (a lost answer, a reconnect that replays), and the change is
applied once; keys are scoped to the caller. Keys are kept for the retention and then removed by the
worker in bounded batches; a replay after that is a new request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import grpc
import httpx
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_incidents.incidents.agents import expire_request_keys
from cityops_incidents.incidents.metrics import REQUEST_KEYS_EXPIRED
from cityops_incidents.settings import IncidentsSettings

from .conftest import Api, City, api_on, city_for_module, report_request

pytestmark = pytest.mark.integration


def _actions(timeline: pb.Timeline) -> list[str]:
    return [e.action for e in timeline.entries]


async def test_a_replayed_note_and_transition_apply_once(api: Api) -> None:
    md = api.md("operator", "op-keys")
    inc = (await api.stub.ReportIncident(report_request(lat=11.01, lon=106.66), metadata=api.md())).incident
    note = pb.AddNoteRequest(id=inc.id, text="Gọi lại cho người báo", idempotency_key="note-7f1")
    # The first send and four replays at once (a reconnect that flushes twice, two tabs...).
    replies = await asyncio.gather(*(api.stub.AddNote(note, metadata=md) for _ in range(5)))
    assert {r.version for r in replies} == {inc.version + 1}

    ack = pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                       expected_version=inc.version + 1, idempotency_key="ack-7f1")
    first = await api.stub.TransitionIncident(ack, metadata=md)
    again = await api.stub.TransitionIncident(ack, metadata=md)  # stale version, but already applied
    assert first.status == again.status == pb.STATUS_ACKNOWLEDGED and again.version == first.version

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=md)
    assert _actions(timeline).count("NoteAdded") == 1
    assert _actions(timeline).count("IncidentTransitioned") == 1

    # Without a key the same stale transition is refused, as before.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                         expected_version=inc.version + 1), metadata=md)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_keys_are_the_callers_own_and_mean_one_request(api: Api) -> None:
    inc = (await api.stub.ReportIncident(report_request(lat=11.02, lon=106.67), metadata=api.md())).incident
    note = pb.AddNoteRequest(id=inc.id, text="Đã liên hệ", idempotency_key="shared-key")
    await api.stub.AddNote(note, metadata=api.md("operator", "op-a"))
    await api.stub.AddNote(note, metadata=api.md("operator", "op-b"))  # another caller: another note
    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    assert _actions(timeline).count("NoteAdded") == 2

    current = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
    with pytest.raises(grpc.aio.AioRpcError) as err:  # op-a's note key cannot stand for a transition
        await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                         expected_version=current.version, idempotency_key="shared-key"),
            metadata=api.md("operator", "op-a"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="x", idempotency_key="k" * 129),
                               metadata=api.md("operator", "op-a"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- retention (CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS) --------------------------------------


async def _key_ages(database_url: str, incident_id: str) -> dict[str, float]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        rows = await conn.fetch("SELECT key, extract(epoch FROM now() - created_at) / 86400 AS days "
                                "FROM request_keys WHERE incident_id = $1", incident_id)
        return {r["key"].split("\x1f", 1)[1]: float(r["days"]) for r in rows}
    finally:
        await conn.close()


async def _age_keys(database_url: str, incident_id: str, days: float, keys: list[str]) -> None:
    """Make the keys ``days`` old, as if they had been applied then."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        await conn.execute(
            "UPDATE request_keys SET created_at = now() - make_interval(secs => $2 * 86400) "
            "WHERE incident_id = $1 AND split_part(key, E'\\x1f', 2) = ANY($3::text[])", incident_id, days, keys)
    finally:
        await conn.close()


async def test_expired_keys_go_in_bounded_batches_and_a_replay_after_expiry_is_a_new_request(
        api: Api, database_url: str) -> None:
    md = api.md("operator", "op-expiry")
    inc = (await api.stub.ReportIncident(report_request(lat=11.03, lon=106.68), metadata=api.md())).incident
    for n in range(5):
        await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text=f"Ghi chú {n}", idempotency_key=f"old-{n}"),
                               metadata=md)
    fresh = await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="Mới", idempotency_key="fresh"), metadata=md)
    ack = pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                       expected_version=fresh.version, idempotency_key="old-ack")
    acked = await api.stub.TransitionIncident(ack, metadata=md)
    await _age_keys(database_url, inc.id, 8, [f"old-{n}" for n in range(5)] + ["old-ack"])
    await _age_keys(database_url, inc.id, 6.9, ["fresh"])  # inside the 7 days: kept

    own = IncidentsSettings(request_key_sweep_batch=2, request_key_sweep_max_batches=2)
    before = REQUEST_KEYS_EXPIRED._value.get()
    pool = await asyncpg.create_pool(database_url, server_settings={"search_path": "incidents"},
                                     min_size=1, max_size=2)
    try:
        # Other tests' keys share this database: only this incident's are counted exactly.
        assert await expire_request_keys(pool, own) == 4  # two batches of two: the round stops there
        assert len(await _key_ages(database_url, inc.id)) == 3
        while await expire_request_keys(pool, own):  # the next rounds take the rest
            pass
    finally:
        await pool.close()
    assert REQUEST_KEYS_EXPIRED._value.get() - before >= 6
    assert set(await _key_ages(database_url, inc.id)) == {"fresh"}

    # What a replay after expiry does (docs/incidents.md): the transition is refused as stale (the
    # incident moved on), so nothing is applied twice; a note is a new note.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.TransitionIncident(ack, metadata=md)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    again = await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="Ghi chú 0", idempotency_key="old-0"),
                                   metadata=md)
    assert again.version == acked.version + 1
    fresh_again = await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="Mới", idempotency_key="fresh"),
                                         metadata=md)
    assert fresh_again.version == again.version  # the kept key still answers without a second note
    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=md)
    notes = [e.detail for e in timeline.entries if e.action == "NoteAdded"]
    assert notes.count("Ghi chú 0") == 2 and notes.count("Mới") == 1


@pytest.fixture(scope="module")
def city(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    yield from city_for_module(kafka_broker, postgres_server, tmp_path_factory.mktemp("incidents-keys"),
                               env={"CITYOPS_INCIDENTS_REQUEST_KEY_SWEEP_SECONDS": "0.5",
                                    "CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS": "2"})


async def test_the_worker_removes_keys_past_the_retention_and_counts_them(city: City) -> None:
    async with api_on(city.settings) as api:
        md = api.md("operator", "op-worker-expiry")
        inc = (await api.stub.ReportIncident(report_request(lat=11.04, lon=106.69), metadata=api.md())).incident
        for key in ("w-old", "w-kept"):
            await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text=key, idempotency_key=key), metadata=md)
    url = city.settings.database_url
    await _age_keys(url, inc.id, 2.5, ["w-old"])  # past the worker's 2 days
    await _age_keys(url, inc.id, 1.5, ["w-kept"])
    metrics_url = f"http://127.0.0.1:{city.worker.env['CITYOPS_METRICS_PORT']}/metrics"
    async with httpx.AsyncClient() as client:
        for _ in range(600):  # the worker starts Faust first; then a round every 0.5 s
            if set(await _key_ages(url, inc.id)) == {"w-kept"}:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"keys not expired: {await _key_ages(url, inc.id)}\n{city.worker.logs()}")
        text = (await client.get(metrics_url)).text
    counted = [line for line in text.splitlines() if line.startswith("cityops_incidents_request_keys_expired_total ")]
    assert counted and float(counted[0].split()[1]) >= 1, text[-2000:]
