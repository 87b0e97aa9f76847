"""TransitionIncident on the real stack: every legal and illegal move, optimistic concurrency,
DUPLICATE/CANCELLED rules, notes, and a complete audit timeline."""

from __future__ import annotations

import grpc
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import consume, status_details
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from .conftest import TDM, Api, report_request

pytestmark = pytest.mark.integration
ALL = ["NEW", "ACKNOWLEDGED", "DISPATCHED", "ON_SCENE", "RESOLVED", "CLOSED", "CANCELLED", "DUPLICATE"]
LEGAL = {
    "NEW": ["ACKNOWLEDGED", "DISPATCHED", "CANCELLED", "DUPLICATE"],
    "ACKNOWLEDGED": ["DISPATCHED", "RESOLVED", "CANCELLED", "DUPLICATE"],
    "DISPATCHED": ["ON_SCENE", "RESOLVED", "CANCELLED", "DUPLICATE"],
    "ON_SCENE": ["RESOLVED"],
    "RESOLVED": ["CLOSED"],
    "CLOSED": [], "CANCELLED": [], "DUPLICATE": [],
}
# The shortest legal path from NEW to each status.
PATH = {
    "NEW": [], "ACKNOWLEDGED": ["ACKNOWLEDGED"], "DISPATCHED": ["ACKNOWLEDGED", "DISPATCHED"],
    "ON_SCENE": ["ACKNOWLEDGED", "DISPATCHED", "ON_SCENE"],
    "RESOLVED": ["ACKNOWLEDGED", "DISPATCHED", "ON_SCENE", "RESOLVED"],
    "CLOSED": ["ACKNOWLEDGED", "DISPATCHED", "ON_SCENE", "RESOLVED", "CLOSED"],
    "CANCELLED": ["CANCELLED"], "DUPLICATE": ["DUPLICATE"],
}


def st(name: str) -> int:
    return pb.Status.Value(f"STATUS_{name}")


async def transition_error(api: Api, request: pb.TransitionIncidentRequest, *, role: str = "operator"
                           ) -> grpc.aio.AioRpcError:
    """The error TransitionIncident fails with for ``role`` (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.TransitionIncident(request, metadata=api.md(role))
    return err.value


class Lifecycle:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.survivor = ""
        self.count = 0

    async def new(self) -> pb.Incident:
        self.count += 1
        return await self.api.report_unfused(f"Hồ sơ số {self.count}")

    async def move(self, inc: pb.Incident, to: str) -> pb.Incident:
        if to == "DUPLICATE" and not self.survivor:
            self.survivor = (await self.new()).id
        return await self.api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=st(to), expected_version=inc.version,
                                         reason=f"lý do {to.lower()}",
                                         duplicate_of=self.survivor if to == "DUPLICATE" else ""),
            metadata=self.api.md("operator", "op-7"))

    async def at(self, status: str) -> pb.Incident:
        inc = await self.new()
        for step in PATH[status]:
            inc = await self.move(inc, step)
        assert inc.status == st(status)
        return inc


async def test_every_legal_transition_succeeds(api: Api) -> None:
    lc = Lifecycle(api)
    for src, targets in LEGAL.items():
        for dst in targets:
            inc = await lc.at(src)
            moved = await lc.move(inc, dst)
            assert moved.status == st(dst), (src, dst)
            assert moved.version == inc.version + 1


async def test_every_illegal_transition_is_failed_precondition_and_changes_nothing(api: Api) -> None:
    lc = Lifecycle(api)
    for src in ALL:
        inc = await lc.at(src)
        for dst in [s for s in ALL if s not in LEGAL[src]]:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await lc.move(inc, dst)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, (src, dst)
        after = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
        assert (after.status, after.version) == (inc.status, inc.version)


async def test_happy_path_sets_milestones_and_moves_the_sla_clock(api: Api) -> None:
    lc = Lifecycle(api)
    inc = await lc.new()
    assert inc.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE
    inc = await lc.move(inc, "ACKNOWLEDGED")
    assert inc.HasField("acknowledged_at") and inc.sla_stage == pb.SLA_STAGE_DISPATCH and inc.HasField("sla_due_at")
    inc = await lc.move(inc, "DISPATCHED")
    assert inc.HasField("dispatched_at") and inc.sla_stage == pb.SLA_STAGE_RESOLVE
    inc = await lc.move(inc, "ON_SCENE")
    inc = await lc.move(inc, "RESOLVED")
    assert inc.HasField("resolved_at") and inc.sla_stage == pb.SLA_STAGE_UNSPECIFIED and not inc.HasField("sla_due_at")
    inc = await lc.move(inc, "CLOSED")
    assert inc.HasField("closed_at") and inc.version == 6


async def test_stale_expected_version_is_failed_precondition(api: Api) -> None:
    lc = Lifecycle(api)
    inc = await lc.new()
    await lc.move(inc, "ACKNOWLEDGED")
    err = await transition_error(api, pb.TransitionIncidentRequest(
        id=inc.id, to_status=st("CANCELLED"), reason="x", expected_version=1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "stale version" in (err.details() or "")


async def test_cancel_without_reason_names_the_field(api: Api) -> None:
    inc = await Lifecycle(api).new()
    err = await transition_error(api, pb.TransitionIncidentRequest(
        id=inc.id, to_status=st("CANCELLED"), expected_version=inc.version))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err)] == ["reason"]


async def test_transition_without_expected_version_is_invalid_argument_naming_the_field(api: Api) -> None:
    inc = await Lifecycle(api).new()
    err = await transition_error(api, pb.TransitionIncidentRequest(id=inc.id, to_status=st("ACKNOWLEDGED")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err)] == ["expected_version"]
    unchanged = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
    assert unchanged.status == st("NEW") and unchanged.version == inc.version


async def test_duplicate_needs_an_existing_open_survivor(api: Api) -> None:
    lc = Lifecycle(api)
    inc, survivor = await lc.new(), await lc.new()
    err = await transition_error(api, pb.TransitionIncidentRequest(
        id=inc.id, to_status=st("DUPLICATE"), reason="trùng", expected_version=inc.version))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "duplicate_of" in [f for f, _ in status_details(err)]
    closed = await lc.at("CANCELLED")
    err = await transition_error(api, pb.TransitionIncidentRequest(
        id=inc.id, to_status=st("DUPLICATE"), reason="trùng", duplicate_of=closed.id, expected_version=inc.version))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    dup = await api.stub.TransitionIncident(
        pb.TransitionIncidentRequest(id=inc.id, to_status=st("DUPLICATE"), reason="trùng", duplicate_of=survivor.id,
                                     expected_version=inc.version),
        metadata=api.md("operator"))
    assert dup.status == st("DUPLICATE") and dup.duplicate_of == survivor.id


async def test_call_taker_may_not_transition_and_only_an_assigned_field_unit_may_add_note(api: Api) -> None:
    inc = await Lifecycle(api).new()
    err = await transition_error(api, pb.TransitionIncidentRequest(
        id=inc.id, to_status=st("ACKNOWLEDGED"), expected_version=inc.version), role="call_taker")
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # A field unit notes only incidents its unit is assigned to (tests/integration/security/
    # test_object_access.py covers the assigned case); staff may note any incident.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="Đã tới, đường trơn"),
                               metadata=api.md("field_unit", "unit-114-01"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    noted = await api.stub.AddNote(pb.AddNoteRequest(id=inc.id, text="Đã tới, đường trơn"),
                                   metadata=api.md("dispatcher", "dsp-1"))
    assert noted.version == inc.version + 1


async def test_timeline_records_every_change_with_actor_before_after_and_event(api: Api) -> None:
    first = await api.stub.ReportIncident(report_request(), metadata=api.md("call_taker", "ct-1"))
    inc_id = first.incident.id
    await api.stub.ReportIncident(report_request(lat=TDM[0] + 0.0005), metadata=api.md("call_taker", "ct-2"))
    cur = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc_id), metadata=api.md())
    cur = await api.stub.TransitionIncident(
        pb.TransitionIncidentRequest(id=inc_id, to_status=st("ACKNOWLEDGED"), expected_version=cur.version),
        metadata=api.md("operator", "op-9"))
    await api.stub.AddNote(pb.AddNoteRequest(id=inc_id, text="Gọi lại cho người dân"),
                           metadata=api.md("supervisor", "sup-1"))

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc_id), metadata=api.md())
    rows = [(e.action, e.actor.subject, e.actor.role, e.before, e.after, e.version) for e in timeline.entries]
    assert rows == [
        ("IncidentReported", "ct-1", "call_taker", "", "STATUS_NEW", 1),
        ("IncidentMerged", "ct-2", "call_taker", "1", "2", 2),
        ("IncidentTransitioned", "op-9", "operator", "STATUS_NEW", "STATUS_ACKNOWLEDGED", 3),
        ("NoteAdded", "sup-1", "supervisor", "", "", 4),
    ]
    assert timeline.entries[3].detail == "Gọi lại cho người dân"
    assert all(e.HasField("at") for e in timeline.entries)
    published = await consume(api.settings, INCIDENT_EVENTS.name, count=4)
    event_ids = []
    for record in published:
        event = pb.IncidentEvent()
        event.ParseFromString(record.value)
        event_ids.append(event.event_id)
    assert [e.event_id for e in timeline.entries] == event_ids


async def test_unknown_incident_is_not_found(api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.GetTimeline(pb.GetTimelineRequest(id="00000000-0000-4000-8000-000000000000"),
                                   metadata=api.md())
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
