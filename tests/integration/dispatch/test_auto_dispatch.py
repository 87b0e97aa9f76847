"""Auto-dispatch with the real worker subprocess: incident events in, assignments and events out."""

from __future__ import annotations

import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.testing import eventually

from .conftest import Api, WorkerProcess, make_incident

pytestmark = pytest.mark.integration
WORKER_ENV = {"CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "600", "CITYOPS_DISPATCH_RETRY_INTERVAL_SECONDS": "1"}
API_SETTINGS = {"ack_timeout_seconds": 600}
FIRST_WAIT = 90.0  # the first test also waits for the worker to join its consumer group
FIRE = common_pb2.Agency.AGENCY_FIRE_RESCUE_114
A = dispatch_pb2


async def _assigned(api: Api, incident_id: str, count: int = 1, wait_s: float = 30.0) -> list[A.Assignment]:
    async def check() -> list[A.Assignment]:
        found = await api.assignments(incident_id, active_only=True)
        return found if len(found) >= count else []

    result: list[A.Assignment] = await eventually(check, timeout=wait_s, interval=0.2)
    return result


async def test_p1_medical_incident_gets_nearest_als_and_the_next_gets_another(api: Api, worker: WorkerProcess) -> None:
    await api.register("bls-nearest", ["BLS"], 10.9810, 106.6519)  # nearest of all, but only BLS
    await api.register("als-near", ["ALS"], 10.9900, 106.6519)  # ~1 km
    await api.register("als-far", ["ALS"], 11.0300, 106.6519)  # ~5.5 km
    await api.register("als-farthest", ["ALS"], 11.1500, 106.6519)  # ~19 km
    first = make_incident()
    await api.publish(first)
    try:
        [a1] = await _assigned(api, first.id, wait_s=FIRST_WAIT)
    except AssertionError:
        pytest.fail(f"no assignment; worker log:\n{worker.tail()}")
    assert a1.unit_id == "als-near" and a1.auto and a1.capability == "ALS"
    assert a1.run_card == "medical_critical" and a1.attempt == 1
    assert 900 < a1.distance_m < 1200 and a1.eta_seconds == pytest.approx(a1.distance_m * 1.3 / (45 / 3.6))

    second = make_incident(lat=10.9805)
    await api.publish(second)
    [a2] = await _assigned(api, second.id)
    assert a2.unit_id == "als-far"
    events = await api.events(first.id, until=lambda es: any(e.HasField("unit_assigned") for e in es))
    assigned = next(e for e in events if e.HasField("unit_assigned"))
    assert assigned.unit_assigned.auto and assigned.unit_assigned.call_sign == "ALS-NEAR"
    assert assigned.unit.status == A.UNIT_STATUS_DISPATCHED and assigned.incident_number == first.number

    # The same event again (a redelivery) assigns nothing more.
    await api.publish(first)
    await api.publish(make_incident(incident_id=first.id, version=2, status=incidents_pb2.Status.STATUS_DISPATCHED),
                      body="transitioned")
    await eventually(lambda: api.pool.fetchval(
        "SELECT version = 2 FROM incidents_view WHERE id = $1", first.id), timeout=20)
    assert [a.unit_id for a in await api.assignments(first.id)] == ["als-near"]


async def test_fire_run_card_assigns_two_engines_and_an_ambulance(api: Api, worker: WorkerProcess) -> None:
    await api.register("eng-a", ["FIRE_ENGINE"], 10.99, 106.66, unit_type="FIRE_ENGINE", agency=FIRE)
    await api.register("eng-b", ["FIRE_ENGINE"], 11.00, 106.66, unit_type="FIRE_ENGINE", agency=FIRE)
    await api.register("eng-c", ["FIRE_ENGINE"], 11.20, 106.66, unit_type="FIRE_ENGINE", agency=FIRE)
    await api.register("ladder", ["LADDER"], 10.981, 106.652, unit_type="LADDER", agency=FIRE)
    await api.register("als-1", ["ALS"], 10.995, 106.66)
    fire = make_incident(category=incidents_pb2.Category.CATEGORY_FIRE, priority=incidents_pb2.Priority.PRIORITY_P1)
    await api.publish(fire)
    assigned = await _assigned(api, fire.id, count=3, wait_s=FIRST_WAIT)
    assert sorted(a.unit_id for a in assigned) == ["als-1", "eng-a", "eng-b"]
    assert {a.run_card for a in assigned} == {"fire_structure"}
    assert sorted(a.capability for a in assigned) == ["ALS", "FIRE_ENGINE", "FIRE_ENGINE"]
    events = await api.events(fire.id, until=lambda es: sum(e.HasField("unit_assigned") for e in es) >= 3)
    assert sum(e.HasField("unit_assigned") for e in events) == 3


async def test_decline_reassigns_to_the_next_nearest_unit(api: Api, worker: WorkerProcess) -> None:
    await api.register("als-x", ["ALS"], 10.985, 106.6519)
    await api.register("als-y", ["ALS"], 11.010, 106.6519)
    incident = make_incident(priority=incidents_pb2.Priority.PRIORITY_P2)
    await api.publish(incident)
    [first] = await _assigned(api, incident.id, wait_s=FIRST_WAIT)
    assert first.unit_id == "als-x"
    with pytest.raises(grpc.aio.AioRpcError) as no_reason:
        await api.stub.AcknowledgeAssignment(A.AcknowledgeAssignmentRequest(assignment_id=first.id, accept=False),
                                             metadata=api.md("field_unit", unit_id="als-x"))
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    declined = await api.stub.AcknowledgeAssignment(
        A.AcknowledgeAssignmentRequest(assignment_id=first.id, accept=False, reason="Xe đang hỏng lốp"),
        metadata=api.md("field_unit", "als-x", unit_id="als-x"))
    assert declined.status == A.ASSIGNMENT_STATUS_DECLINED and declined.reason == "Xe đang hỏng lốp"
    [second] = await api.assignments(incident.id, active_only=True)
    assert second.unit_id == "als-y" and second.attempt == 2
    unit_x = await api.stub.GetUnit(A.GetUnitRequest(id="als-x"), metadata=api.md())
    assert unit_x.status == A.UNIT_STATUS_AVAILABLE
    events = await api.events(incident.id, until=lambda es: sum(e.HasField("unit_assigned") for e in es) >= 2)
    kinds = [e.WhichOneof("body") for e in events]
    assert kinds[:3] == ["unit_assigned", "assignment_declined", "unit_assigned"]
    assert events[2].unit_assigned.replaces_assignment_id == first.id
    assert events[1].assignment_declined.reason == "Xe đang hỏng lốp"


async def test_unit_progress_drives_en_route_arrived_and_cleared(api: Api, worker: WorkerProcess) -> None:
    await api.register("als-p", ["ALS"], 10.985, 106.6519)
    incident = make_incident()
    await api.publish(incident)
    [assignment] = await _assigned(api, incident.id, wait_s=FIRST_WAIT)
    ack = await api.stub.AcknowledgeAssignment(A.AcknowledgeAssignmentRequest(assignment_id=assignment.id, accept=True),
                                               metadata=api.md("field_unit", unit_id="als-p"))
    assert ack.status == A.ASSIGNMENT_STATUS_ACKNOWLEDGED
    for status in (A.UNIT_STATUS_EN_ROUTE, A.UNIT_STATUS_ON_SCENE, A.UNIT_STATUS_AVAILABLE):
        await api.stub.UpdateUnitStatus(A.UpdateUnitStatusRequest(unit_id="als-p", status=status, reason="Đã xử lý"),
                                        metadata=api.md("field_unit", unit_id="als-p"))
    [done] = await api.assignments(incident.id)
    assert done.status == A.ASSIGNMENT_STATUS_CLEARED and done.en_route_at.seconds and done.on_scene_at.seconds
    events = await api.events(incident.id, until=lambda es: any(e.HasField("unit_cleared") for e in es))
    assert [e.WhichOneof("body") for e in events] == [
        "unit_assigned", "assignment_acknowledged", "unit_en_route", "unit_arrived", "unit_cleared"]
    assert events[-1].unit_cleared.reason == "Đã xử lý"
    unit = await api.stub.GetUnit(A.GetUnitRequest(id="als-p"), metadata=api.md())
    assert unit.status == A.UNIT_STATUS_AVAILABLE and not unit.active_assignment_id


async def test_p3_incident_waits_for_a_dispatcher(api: Api, worker: WorkerProcess) -> None:
    await api.register("bls-q", ["BLS"], 10.985, 106.6519)
    incident = make_incident(priority=incidents_pb2.Priority.PRIORITY_P3)
    await api.publish(incident)
    request = A.RecommendUnitsRequest(incident_id=incident.id)

    async def recommended() -> A.RecommendUnitsResponse | None:
        try:
            reply: A.RecommendUnitsResponse = await api.stub.RecommendUnits(request, metadata=api.md())
            return reply
        except grpc.aio.AioRpcError:
            return None  # not in dispatch's view yet

    reply = await eventually(recommended, timeout=FIRST_WAIT)
    assert list(reply.required_capabilities) == ["BLS"] and reply.candidates[0].unit.id == "bls-q"
    assert await api.assignments(incident.id) == []
    manual = await api.stub.AssignUnit(A.AssignUnitRequest(incident_id=incident.id, unit_id="bls-q"),
                                       metadata=api.md("dispatcher", "dp-07"))
    assert not manual.auto and manual.assigned_by.subject == "dp-07" and manual.capability == "BLS"
