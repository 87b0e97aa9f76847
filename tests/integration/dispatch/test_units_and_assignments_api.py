"""The dispatch api on real Postgres and Kafka: units, AVL, recommendation and the no-double-booking invariant.

No worker runs here: incident events are applied with the worker's own handler (``apply_event``)
so that the api has incidents to recommend and assign for.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import asyncpg
import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.testing import consume, status_details
from cityops_dispatch.assignments.agents import Sweeper
from cityops_dispatch.incidents_view.service import apply_event
from cityops_dispatch.rules import load_units_data
from cityops_dispatch.settings import DispatchSettings
from cityops_dispatch.units.seed import seed
from cityops_platform.kafka.topics import UNIT_STATUS

from .conftest import Api, make_incident

pytestmark = pytest.mark.integration
P3 = incidents_pb2.Priority.PRIORITY_P3


async def _known(api: Api, incident: incidents_pb2.Incident) -> None:
    async with api.pool.acquire() as conn, conn.transaction():
        await apply_event(conn, incidents_pb2.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident.id,
                                                            incident=incident))


async def test_concurrent_assign_unit_calls_never_double_book_a_unit(api: Api) -> None:
    await api.register("amb-1", ["ALS"], 10.98, 106.65)
    incidents = [make_incident(priority=P3) for _ in range(12)]
    for incident in incidents:
        await _known(api, incident)

    async def assign(incident_id: str) -> str:
        try:
            await api.stub.AssignUnit(dispatch_pb2.AssignUnitRequest(incident_id=incident_id, unit_id="amb-1"),
                                      metadata=api.md())
            return "OK"
        except grpc.aio.AioRpcError as exc:
            return str(exc.code().name)

    # Twice the same incident too: the unit must not be assigned twice to it either.
    outcomes = await asyncio.gather(*(assign(i.id) for i in [*incidents, incidents[0]]))
    assert outcomes.count("OK") == 1
    assert set(outcomes) == {"OK", "FAILED_PRECONDITION"}
    active = await api.pool.fetchval("SELECT count(*) FROM assignments WHERE unit_id = 'amb-1' AND status IN (1,2,3,4)")
    assert active == 1
    unit = await api.stub.GetUnit(dispatch_pb2.GetUnitRequest(id="amb-1"), metadata=api.md())
    assert unit.status == dispatch_pb2.UNIT_STATUS_DISPATCHED and unit.active_assignment_id


async def test_database_refuses_a_second_active_assignment_of_a_unit(api: Api) -> None:
    await api.register("amb-2", ["ALS"], 10.98, 106.65)
    now = datetime.now(UTC)
    insert = ("INSERT INTO assignments (id, incident_id, unit_id, status, ack_deadline) "
              "VALUES ($1, $2, 'amb-2', $3, $4)")
    await api.pool.execute(insert, "a1", "i1", 1, now + timedelta(seconds=30))
    await api.pool.execute(insert, "a0", "i0", 5, now)  # a finished one does not count
    with pytest.raises(asyncpg.UniqueViolationError):
        await api.pool.execute(insert, "a2", "i2", 3, now + timedelta(seconds=30))


async def test_avl_updates_change_the_recommendation(api: Api) -> None:
    incident = make_incident(priority=P3, lat=10.9804, lon=106.6519)
    await _known(api, incident)
    await api.register("near", ["ALS"], 10.9900, 106.6519)  # ~1 km
    await api.register("far", ["ALS"], 11.0500, 106.6519)  # ~8 km
    request = dispatch_pb2.RecommendUnitsRequest(incident_id=incident.id, capabilities=["ALS"], limit=2)
    before = await api.stub.RecommendUnits(request, metadata=api.md())
    assert [c.unit.id for c in before.candidates] == ["near", "far"]
    assert 900 < before.candidates[0].distance_m < 1200 and before.candidates[0].eta_seconds > 0

    async def fixes() -> object:
        for unit_id, lat in (("near", 11.1000), ("far", 10.9810)):  # they swap places
            msg = dispatch_pb2.UnitLocation(unit_id=unit_id, location=common_pb2.GeoPoint(lat=lat, lon=106.6519),
                                            speed_kmh=30, heading_deg=180)
            msg.observed_at.FromDatetime(datetime.now(UTC))
            yield msg

    summary = await api.stub.StreamLocations(fixes(), metadata=api.md("admin"))  # a fleet AVL feed: several units
    assert (summary.accepted, summary.rejected) == (2, 0)
    after = await api.stub.RecommendUnits(request, metadata=api.md())
    assert [c.unit.id for c in after.candidates] == ["far", "near"]
    assert after.candidates[0].distance_m < 100


async def test_stream_locations_rejects_unknown_stale_and_bad_fixes_and_publishes_positions(api: Api) -> None:
    await api.register("amb-3", ["BLS"], 10.98, 106.65)
    now = datetime.now(UTC)

    def fix(unit_id: str, lat: float, at: datetime) -> dispatch_pb2.UnitLocation:
        msg = dispatch_pb2.UnitLocation(unit_id=unit_id, location=common_pb2.GeoPoint(lat=lat, lon=106.66))
        msg.observed_at.FromDatetime(at)
        return msg

    async def fixes() -> object:
        yield fix("amb-3", 10.99, now)
        yield fix("ghost", 10.99, now)  # unknown unit
        yield fix("amb-3", 10.95, now - timedelta(minutes=1))  # older than the stored fix
        yield fix("amb-3", 95.0, now)  # bad latitude
        yield fix("amb-3", 10.97, now + timedelta(hours=1))  # from the future

    summary = await api.stub.StreamLocations(fixes(), metadata=api.md("admin"))  # a fleet AVL feed: several units
    assert (summary.accepted, summary.rejected) == (1, 4)
    assert [e.split(":")[0] for e in summary.errors] == ["1", "2", "3", "4"]
    records = await consume(api.settings, UNIT_STATUS.name, count=2, timeout=20,
                            predicate=lambda r: r.key == b"amb-3")
    latest = dispatch_pb2.UnitStatusUpdate()
    latest.ParseFromString(records[-1].value)
    assert latest.unit.location.lat == pytest.approx(10.99)


async def test_unit_status_machine_is_guarded_and_bad_input_names_the_field(api: Api) -> None:
    await api.register("eng-1", ["FIRE_ENGINE"], 10.98, 106.65, unit_type="FIRE_ENGINE",
                       agency=common_pb2.Agency.AGENCY_FIRE_RESCUE_114)
    with pytest.raises(grpc.aio.AioRpcError) as illegal:
        await api.stub.UpdateUnitStatus(dispatch_pb2.UpdateUnitStatusRequest(
            unit_id="eng-1", status=dispatch_pb2.UNIT_STATUS_ON_SCENE), metadata=api.md("field_unit", unit_id="eng-1"))
    assert illegal.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    cases = [
        (api.stub.UpdateUnitStatus, dispatch_pb2.UpdateUnitStatusRequest(unit_id="eng-1", status=99),  # type: ignore[arg-type]
         "status"),
        (api.stub.RegisterUnit, dispatch_pb2.RegisterUnitRequest(unit=dispatch_pb2.Unit(
            id="x", call_sign="X", agency=common_pb2.Agency.AGENCY_MEDICAL_115, capabilities=["ALS"],
            location=common_pb2.GeoPoint(lat=10.9, lon=200))), "unit.location.lon"),
        (api.stub.RecommendUnits, dispatch_pb2.RecommendUnitsRequest(incident_id="i", limit=51), "limit"),
        (api.stub.AssignUnit, dispatch_pb2.AssignUnitRequest(unit_id="eng-1"), "incident_id"),
        (api.stub.AcknowledgeAssignment, dispatch_pb2.AcknowledgeAssignmentRequest(assignment_id="a"), "reason"),
        (api.stub.ImportEido, dispatch_pb2.ImportEidoRequest(json="{"), "json"),
    ]
    for call, request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await call(request, metadata=api.md("admin"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in [f for f, _ in status_details(bad.value)]
    out = await api.stub.UpdateUnitStatus(dispatch_pb2.UpdateUnitStatusRequest(
        unit_id="eng-1", status=dispatch_pb2.UNIT_STATUS_OUT_OF_SERVICE),
        metadata=api.md("field_unit", unit_id="eng-1"))
    assert out.status == dispatch_pb2.UNIT_STATUS_OUT_OF_SERVICE
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await api.stub.GetUnit(dispatch_pb2.GetUnitRequest(id="nope"), metadata=api.md())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_default_binh_duong_units_seed_once(api: Api) -> None:
    data = load_units_data(DispatchSettings())
    async with api.pool.acquire() as conn, conn.transaction():
        first = await seed(conn, data)
    async with api.pool.acquire() as conn, conn.transaction():
        second = await seed(conn, data)
    assert first == sum(len(s["units"]) for s in data["stations"]) and second == 0
    reply = await api.stub.ListUnits(dispatch_pb2.ListUnitsRequest(capability="ALS", page_size=3), metadata=api.md())
    assert len(reply.units) == 3 and reply.next_page_token
    wards = {r["ward_code"] for r in await api.pool.fetch("SELECT DISTINCT ward_code FROM units")}
    assert "" not in wards and len(wards) >= 9  # every station lies in a ward of the city
    lai_thieu = await api.stub.ListUnits(dispatch_pb2.ListUnitsRequest(ward_codes=["25966"]), metadata=api.md())
    assert lai_thieu.units and {u.ward_name for u in lai_thieu.units} == {"Phường Lái Thiêu"}
    # the deprecated filter with a former district: every unit of its five wards
    thuan_an = await api.stub.ListUnits(dispatch_pb2.ListUnitsRequest(district="Thuận An", page_size=1000),
                                        metadata=api.md())
    assert {u.id for u in lai_thieu.units} < {u.id for u in thuan_an.units}
    assert all(u.district == u.ward_name for u in thuan_an.units)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await api.stub.ListUnits(dispatch_pb2.ListUnitsRequest(ward_codes=["nope"]), metadata=api.md())
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # units from before migration 121 get their ward from the backfill (`cityops wards backfill`)
    from cityops_platform.geo.admin_units import admin_units
    from cityops_platform.geo.backfill import TARGETS, backfill

    before = {r["id"]: r["ward_code"] for r in await api.pool.fetch("SELECT id, ward_code FROM units")}
    await api.pool.execute("UPDATE units SET ward_code = '', ward_name = ''")
    assert await backfill(api.pool, TARGETS["dispatch"], admin_units(), batch=7) == len(before)
    assert {r["id"]: r["ward_code"] for r in await api.pool.fetch("SELECT id, ward_code FROM units")} == before


async def test_assign_unit_with_an_idempotency_key_assigns_once_per_caller_and_keys_expire(api: Api) -> None:
    """The console's offline outbox replays AssignUnit with the key made when the action was taken:
    replays (also racing ones, and after the unit was released) answer with the first assignment and
    assign nothing; the key is the caller's, used for another request it is refused; the worker's
    sweeper removes keys after the retention."""
    unit_id, other_unit = f"amb-key-{uuid.uuid4().hex[:6]}", f"amb-key2-{uuid.uuid4().hex[:6]}"
    await api.register(unit_id, ["ALS"], 10.98, 106.65)
    await api.register(other_unit, ["ALS"], 10.98, 106.65)
    incident = make_incident(priority=P3)
    await _known(api, incident)
    key = uuid.uuid4().hex
    me = api.md("dispatcher", "dispatcher-key-test")

    def request(unit: str = unit_id, idempotency_key: str = key) -> dispatch_pb2.AssignUnitRequest:
        return dispatch_pb2.AssignUnitRequest(incident_id=incident.id, unit_id=unit, idempotency_key=idempotency_key)

    first, racing = await asyncio.gather(api.stub.AssignUnit(request(), metadata=me),
                                         api.stub.AssignUnit(request(), metadata=me))
    assert first.id == racing.id
    count = "SELECT count(*) FROM assignments WHERE incident_id = $1 AND unit_id = $2"
    assert await api.pool.fetchval(count, incident.id, unit_id) == 1

    # The unit is released (cancelled); a late replay still answers with that assignment, as it is now.
    await api.stub.CancelAssignment(dispatch_pb2.CancelAssignmentRequest(assignment_id=first.id, reason="thử"),
                                    metadata=me)
    late = await api.stub.AssignUnit(request(), metadata=me)
    assert late.id == first.id and late.status == dispatch_pb2.ASSIGNMENT_STATUS_CANCELLED
    assert await api.pool.fetchval(count, incident.id, unit_id) == 1

    # The same key for another unit is another request: refused, nothing assigned.
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await api.stub.AssignUnit(request(other_unit), metadata=me)
    assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await api.pool.fetchval(count, incident.id, other_unit) == 0
    # Another caller's equal key is its own request: it assigns.
    theirs = await api.stub.AssignUnit(request(), metadata=api.md("dispatcher", "another-dispatcher"))
    assert theirs.id != first.id and theirs.status == dispatch_pb2.ASSIGNMENT_STATUS_ASSIGNED

    # Expiry: keys older than the retention go, younger ones stay.
    await api.pool.execute("UPDATE request_keys SET created_at = now() - interval '8 days' WHERE key = $1",
                           f"dispatcher-key-test\x1f{key}")
    # The worker's sweeper, on this database (it reads only the pool of its resources).
    sweeper = Sweeper(res=SimpleNamespace(db=api.pool, pool=api.pool), dispatcher=None, board=None,  # type: ignore[arg-type]
                      retry_interval_s=60, key_retention_days=7)
    removed = await sweeper.expire_keys()
    assert removed == 1
    left = await api.pool.fetch("SELECT key FROM request_keys WHERE key LIKE '%' || $1", key)
    assert [r["key"] for r in left] == [f"another-dispatcher\x1f{key}"]
    # After expiry a replay is a new request (here the unit is busy with the other caller's assignment).
    with pytest.raises(grpc.aio.AioRpcError) as after:
        await api.stub.AssignUnit(request(), metadata=me)
    assert after.value.code() == grpc.StatusCode.FAILED_PRECONDITION
