"""SplitReport and ReopenIncident on the real stack (gRPC api, Postgres, Kafka): a wrong merge is
undone into its own incident with its own clock; a resolved incident is reopened to the same agency
with escalation, within the window; both audited, published, and guarded by expected_version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import consume, status_details
from cityops_incidents.incidents.models import Actor, ReopenIn
from cityops_incidents.incidents.service import IncidentService
from cityops_incidents.rules import load_rules
from cityops_platform.errors import PreconditionFailed
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.runtime import service_resources

from .conftest import TDM, Api, report_request

pytestmark = pytest.mark.integration


async def merged_pair(api: Api) -> tuple[pb.ReportIncidentResponse, pb.ReportIncidentResponse]:
    first = await api.stub.ReportIncident(report_request(description="Ổ gà lớn giữa đường"), metadata=api.md())
    second = await api.stub.ReportIncident(
        report_request(lat=TDM[0] + 0.0004, description="Cống thoát nước bị mất nắp", key="call-split-2"),
        metadata=api.md("call_taker", "ct-2"))
    assert second.merged and second.incident.id == first.incident.id
    return first, second


async def current(api: Api, incident_id: str) -> pb.Incident:
    return await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())


async def test_operator_splits_a_wrongly_merged_report_into_its_own_incident(api: Api) -> None:
    first, second = await merged_pair(api)
    source = await current(api, first.incident.id)
    reports = await api.stub.ListReports(pb.ListReportsRequest(incident_id=source.id), metadata=api.md("operator"))
    assert [r.id for r in reports.reports] == [first.report_id, second.report_id]
    assert [r.merged for r in reports.reports] == [False, True]

    reply = await api.stub.SplitReport(
        pb.SplitReportRequest(incident_id=source.id, report_id=second.report_id, reason="Khác sự việc: mất nắp cống",
                              expected_version=source.version),
        metadata=api.md("operator", "op-1"))
    left, split = reply.source, reply.split
    assert left.id == source.id and left.report_count == 1 and left.version == source.version + 1
    assert split.id != source.id and split.number != source.number and split.split_from == source.id
    assert split.report_count == 1 and split.status == pb.STATUS_NEW and split.description.startswith("Cống")
    # Its own SLA clock: created at the split, the acknowledge deadline measured from then.
    assert split.created_at.ToDatetime() > source.created_at.ToDatetime()
    assert split.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE and split.HasField("sla_due_at")
    assert split.sla_due_at.ToDatetime() > source.sla_due_at.ToDatetime()

    moved = await api.stub.ListReports(pb.ListReportsRequest(incident_id=split.id), metadata=api.md("operator"))
    assert [(r.id, r.merged) for r in moved.reports] == [(second.report_id, False)]
    # The report's idempotency key now answers with its new incident.
    again = await api.stub.ReportIncident(
        report_request(lat=TDM[0] + 0.0004, description="Cống thoát nước bị mất nắp", key="call-split-2"),
        metadata=api.md("call_taker", "ct-2"))
    assert again.incident.id == split.id and not again.merged

    src_tl = await api.stub.GetTimeline(pb.GetTimelineRequest(id=source.id), metadata=api.md())
    assert [(e.action, e.before, e.after, e.actor.subject) for e in src_tl.entries][-1] == (
        "ReportSplit", "2", "1", "op-1")
    assert split.number in src_tl.entries[-1].detail
    new_tl = await api.stub.GetTimeline(pb.GetTimelineRequest(id=split.id), metadata=api.md())
    assert [e.action for e in new_tl.entries] == ["IncidentReported", "ReportSplit"]
    assert source.number in new_tl.entries[0].detail

    def is_split(record: object) -> bool:
        return pb.IncidentEvent.FromString(record.value).WhichOneof("body") == "report_split"  # type: ignore[attr-defined]

    records = await consume(api.settings, INCIDENT_EVENTS.name, count=2, predicate=is_split, timeout=60)
    events = [pb.IncidentEvent.FromString(r.value) for r in records]
    assert sorted(e.incident_id for e in events) == sorted([source.id, split.id])
    assert all(e.report_split.report_id == second.report_id and e.report_split.to_incident_id == split.id
               for e in events)


async def test_split_guards_version_role_and_last_report(api: Api) -> None:
    first, second = await merged_pair(api)
    source = await current(api, first.incident.id)
    base = {"incident_id": source.id, "report_id": second.report_id, "reason": "sai"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.SplitReport(pb.SplitReportRequest(**base), metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in status_details(err.value)] == ["expected_version"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.SplitReport(pb.SplitReportRequest(**base, expected_version=1), metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "stale version" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.SplitReport(pb.SplitReportRequest(**base, expected_version=source.version),
                                   metadata=api.md("call_taker"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.SplitReport(
            pb.SplitReportRequest(incident_id=source.id, report_id="6f1c0b7e-3d0a-4c55-9d0e-1b2a3c4d5e6f",
                                  reason="sai", expected_version=source.version), metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    reply = await api.stub.SplitReport(pb.SplitReportRequest(**base, expected_version=source.version),
                                       metadata=api.md("operator"))
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the source has one report left
        await api.stub.SplitReport(
            pb.SplitReportRequest(incident_id=source.id, report_id=first.report_id, reason="sai",
                                  expected_version=reply.source.version), metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    unchanged = await current(api, source.id)
    assert unchanged.report_count == 1 and unchanged.version == reply.source.version


async def resolve(api: Api, inc: pb.Incident) -> pb.Incident:
    for to in (pb.STATUS_ACKNOWLEDGED, pb.STATUS_DISPATCHED, pb.STATUS_RESOLVED):
        inc = await api.stub.TransitionIncident(
            pb.TransitionIncidentRequest(id=inc.id, to_status=to, expected_version=inc.version, reason="xong"),
            metadata=api.md("operator"))
    return inc


async def test_operator_reopens_a_resolved_incident_to_the_same_agency_one_step_more_urgent(api: Api) -> None:
    filed = await api.stub.ReportIncident(report_request(description="Ổ gà lớn giữa đường"), metadata=api.md())
    resolved = await resolve(api, filed.incident)
    assert resolved.priority == pb.PRIORITY_P4 and resolved.HasField("resolved_at")
    reopened = await api.stub.ReopenIncident(
        pb.ReopenIncidentRequest(id=resolved.id, reason="Chưa xử lý xong, ổ gà vẫn còn",
                                 expected_version=resolved.version),
        metadata=api.md("operator", "op-3"))
    assert reopened.status == pb.STATUS_ACKNOWLEDGED and reopened.agency == resolved.agency
    assert reopened.priority == pb.PRIORITY_P3 and reopened.reopen_count == 1
    assert reopened.version == resolved.version + 2 and not reopened.HasField("resolved_at")
    assert reopened.escalation_level == resolved.escalation_level + 1

    tl = await api.stub.GetTimeline(pb.GetTimelineRequest(id=resolved.id), metadata=api.md())
    tail = [(e.action, e.before, e.after, e.actor.subject) for e in tl.entries][-2:]
    assert tail == [("IncidentReopened", "STATUS_RESOLVED", "STATUS_ACKNOWLEDGED", "op-3"),
                    ("IncidentEscalated", "P4", "P3", "op-3")]
    assert "Chưa xử lý xong" in tl.entries[-2].detail

    def mine(record: object) -> bool:
        e = pb.IncidentEvent.FromString(record.value)  # type: ignore[attr-defined]
        return e.incident_id == resolved.id and e.WhichOneof("body") in ("reopened", "escalated")

    records = await consume(api.settings, INCIDENT_EVENTS.name, count=2, predicate=mine, timeout=60)
    events = [pb.IncidentEvent.FromString(r.value) for r in records]
    assert events[0].reopened.reopen_count == 1 and events[0].reopened.from_status == pb.STATUS_RESOLVED
    assert events[1].escalated.reason == pb.ESCALATION_REASON_REOPENED
    assert events[1].incident.priority == pb.PRIORITY_P3

    # Resolved again, reopened again: P3 → P2; the count goes on.
    again = await api.stub.ReopenIncident(
        pb.ReopenIncidentRequest(id=resolved.id, reason="vẫn chưa", expected_version=(
            await api.stub.TransitionIncident(pb.TransitionIncidentRequest(
                id=resolved.id, to_status=pb.STATUS_RESOLVED, expected_version=reopened.version),
                metadata=api.md("operator"))).version),
        metadata=api.md("operator"))
    assert again.reopen_count == 2 and again.priority == pb.PRIORITY_P2


async def test_the_reporter_may_reopen_and_another_citizen_may_not(api: Api) -> None:
    filed = await api.stub.ReportIncident(
        report_request(source=pb.SOURCE_CITIZEN_APP, description="Đèn đường hỏng cả tuần"),
        metadata=api.md("citizen", "citizen-lan"))
    resolved = await resolve(api, filed.incident)
    request = pb.ReopenIncidentRequest(id=resolved.id, reason="chưa xử lý xong", expected_version=resolved.version)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReopenIncident(request, metadata=api.md("citizen", "citizen-khac"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReopenIncident(request, metadata=api.md("dispatcher"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reopened = await api.stub.ReopenIncident(request, metadata=api.md("citizen", "citizen-lan"))
    assert reopened.status == pb.STATUS_ACKNOWLEDGED and reopened.reopen_count == 1


async def test_reopen_needs_a_resolved_incident_a_version_and_a_reason(api: Api) -> None:
    filed = await api.stub.ReportIncident(report_request(), metadata=api.md())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReopenIncident(pb.ReopenIncidentRequest(id=filed.incident.id), metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(f for f, _ in status_details(err.value)) == ["expected_version", "reason"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReopenIncident(
            pb.ReopenIncidentRequest(id=filed.incident.id, reason="x", expected_version=filed.incident.version),
            metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # NEW is not RESOLVED
    resolved = await resolve(api, filed.incident)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReopenIncident(pb.ReopenIncidentRequest(id=resolved.id, reason="x", expected_version=2),
                                      metadata=api.md("operator"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "stale version" in (err.value.details() or "")


async def test_reopen_after_the_window_is_refused(api: Api) -> None:
    filed = await api.stub.ReportIncident(report_request(), metadata=api.md())
    resolved = await resolve(api, filed.incident)
    rules = load_rules()
    later = datetime.now(UTC) + rules.lifecycle.reopen_window + timedelta(minutes=1)
    async with service_resources("incidents", api.settings) as res:
        service = IncidentService(pool=res.db, rules=rules, now=lambda: later)
        with pytest.raises(PreconditionFailed, match="reopen window"):
            await service.reopen(ReopenIn(resolved.id, "chưa xong", resolved.version),
                                 actor=Actor("op", "operator"), roles=frozenset({"operator"}))
    still = await current(api, resolved.id)
    assert still.status == pb.STATUS_RESOLVED and still.version == resolved.version
