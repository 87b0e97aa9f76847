"""The worker's timers: an unacknowledged assignment moves on; an incident without units waits and is retried."""

from __future__ import annotations

import pytest

from cityops.dispatch.v1 import dispatch_pb2
from cityops_devtools.testing import eventually

from .conftest import Api, WorkerProcess, make_incident

pytestmark = pytest.mark.integration
A = dispatch_pb2
WORKER_ENV = {
    "CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "2",
    "CITYOPS_DISPATCH_TIMER_INTERVAL_SECONDS": "0.3",
    "CITYOPS_DISPATCH_RETRY_INTERVAL_SECONDS": "0.5",
}
API_SETTINGS = {"ack_timeout_seconds": 2}
FIRST_WAIT = 90.0


def _body(event: A.DispatchEvent) -> str:
    return str(event.WhichOneof("body"))


async def test_unacknowledged_assignment_times_out_and_moves_to_the_next_unit(api: Api, worker: WorkerProcess) -> None:
    await api.register("als-slow", ["ALS"], 10.985, 106.6519)
    await api.register("als-next", ["ALS"], 11.020, 106.6519)
    incident = make_incident()
    await api.publish(incident)

    def moved(events: list[A.DispatchEvent]) -> bool:
        return [_body(e) for e in events][:3] == ["unit_assigned", "assignment_timed_out", "unit_assigned"]

    events = await api.events(incident.id, until=moved, wait_s=FIRST_WAIT)
    assert moved(events), f"events: {[_body(e) for e in events]}\n{worker.tail()}"
    first, timed_out, second = events[:3]
    assert first.unit_id == "als-slow" and timed_out.unit_id == "als-slow" and second.unit_id == "als-next"
    assert second.unit_assigned.replaces_assignment_id == first.assignment_id and second.unit_assigned.attempt == 2
    assert timed_out.assignment.status == A.ASSIGNMENT_STATUS_TIMED_OUT
    assert "timeout" in timed_out.assignment.reason
    history = await api.assignments(incident.id)
    assert [(a.unit_id, a.status) for a in history[:1]] == [("als-slow", A.ASSIGNMENT_STATUS_TIMED_OUT)]
    assert history[1].unit_id == "als-next" and history[1].attempt == 2
    slow = await api.stub.GetUnit(A.GetUnitRequest(id="als-slow"), metadata=api.md())
    assert slow.status == A.UNIT_STATUS_AVAILABLE


async def test_incident_without_available_unit_waits_and_gets_one_when_a_unit_frees_up(
    api: Api, worker: WorkerProcess
) -> None:
    await api.register("als-only", ["ALS"], 10.985, 106.6519)
    await api.stub.UpdateUnitStatus(A.UpdateUnitStatusRequest(unit_id="als-only", status=A.UNIT_STATUS_OUT_OF_SERVICE),
                                    metadata=api.md("field_unit", unit_id="als-only"))
    incident = make_incident()
    await api.publish(incident)
    events = await api.events(incident.id, until=lambda es: any(e.HasField("incident_awaiting_units") for e in es),
                              wait_s=FIRST_WAIT)
    waiting = next(e for e in events if e.HasField("incident_awaiting_units")).incident_awaiting_units
    assert list(waiting.required_capabilities) == ["ALS"] and waiting.missing_units == 1
    assert await api.assignments(incident.id) == []

    await api.stub.UpdateUnitStatus(A.UpdateUnitStatusRequest(unit_id="als-only", status=A.UNIT_STATUS_AVAILABLE),
                                    metadata=api.md("field_unit", unit_id="als-only"))

    async def assigned() -> list[A.Assignment]:
        found: list[A.Assignment] = await api.assignments(incident.id, active_only=True)
        return found

    [assignment] = await eventually(assigned, timeout=30)
    assert assignment.unit_id == "als-only"
    # Waiting was announced once, not on every retry.
    events = await api.events(incident.id, until=lambda es: any(e.HasField("unit_assigned") for e in es))
    assert sum(e.HasField("incident_awaiting_units") for e in events) == 1
