"""ReportIncident on the real stack: numbering, triage, idempotency (also concurrent), fusion,
escalation by report count, PII kept out of events."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import consume
from cityops_platform.kafka.topics import INCIDENT_EVENTS

from .conftest import TDM, Api, report_request

pytestmark = pytest.mark.integration
NUMBER_RE = re.compile(r"^BD-\d{8}-\d{6}$")


def event_of(record: object) -> pb.IncidentEvent:
    event = pb.IncidentEvent()
    event.ParseFromString(record.value)  # type: ignore[attr-defined]
    return event


async def test_report_creates_incident_with_number_triage_sla_and_event(api: Api) -> None:
    req = report_request(description="Cây đổ chắn ngang đường", subcategory="cay_do",
                         reporter=pb.Reporter(name="Nguyễn Văn An", phone="0912345678"))
    reply = await api.stub.ReportIncident(req, metadata=api.md("call_taker", "ct-0042"))
    inc = reply.incident
    assert not reply.merged and reply.report_id
    assert NUMBER_RE.match(inc.number), inc.number
    assert inc.status == pb.STATUS_NEW and inc.version == 1 and inc.report_count == 1
    assert inc.priority == pb.PRIORITY_P3 and inc.eido_priority == 4  # "cây đổ" keyword → P3
    assert inc.agency == common_pb2.AGENCY_PUBLIC_WORKS
    assert list(inc.sources) == [pb.SOURCE_HOTLINE_1022]
    assert (inc.ward_code, inc.ward_name) == ("25747", "Phường Thủ Dầu Một")
    assert inc.district == inc.ward_name  # the deprecated field mirrors the ward's name
    assert inc.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE and inc.HasField("sla_due_at")
    assert inc.sla_due_at.ToDatetime() > inc.created_at.ToDatetime()

    records = await consume(api.settings, INCIDENT_EVENTS.name, count=1)
    assert len(records) == 1 and records[0].key == inc.id.encode()
    assert dict(records[0].headers)["cityops-event-type"] == b"IncidentReported"
    event = event_of(records[0])
    assert event.WhichOneof("body") == "reported"
    assert event.reported.reporter_phone_masked == "09xx xxx 678"
    assert event.actor.subject == "ct-0042" and event.actor.role == "call_taker"
    assert event.incident.id == inc.id and event.incident.number == inc.number
    # No PII on the wire: neither the name nor the full phone number.
    assert b"0912345678" not in records[0].value and "Nguyễn Văn An".encode() not in records[0].value


async def test_same_idempotency_key_returns_the_same_incident(api: Api) -> None:
    req = report_request(key="hotline-call-7781")
    first = await api.stub.ReportIncident(req, metadata=api.md())
    second = await api.stub.ReportIncident(req, metadata=api.md())
    assert second.incident.id == first.incident.id and second.report_id == first.report_id
    assert second.incident.report_count == 1 and not second.merged


async def test_concurrent_retries_with_one_key_create_one_incident_and_one_report(api: Api) -> None:
    req = report_request(key="retry-storm-1")
    replies = await asyncio.gather(*(api.stub.ReportIncident(req, metadata=api.md()) for _ in range(12)))
    assert len({r.incident.id for r in replies}) == 1
    assert len({r.report_id for r in replies}) == 1
    conn = await asyncpg.connect(api.settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM incidents.incidents") == 1
        assert await conn.fetchval("SELECT count(*) FROM incidents.reports") == 1
    finally:
        await conn.close()


async def test_simultaneous_reports_from_one_spot_create_one_incident(api: Api) -> None:
    reqs = [report_request(lat=TDM[0] + i * 0.00001, description=f"Ngập nước đoạn {i}") for i in range(10)]
    replies = await asyncio.gather(*(api.stub.ReportIncident(r, metadata=api.md()) for r in reqs))
    assert len({r.incident.id for r in replies}) == 1
    assert sum(1 for r in replies if not r.merged) == 1
    final = await api.stub.GetIncident(pb.GetIncidentRequest(id=replies[0].incident.id), metadata=api.md())
    assert final.report_count == 10


async def test_second_report_within_150m_merges_and_sources_accumulate(api: Api) -> None:
    first = await api.stub.ReportIncident(report_request(), metadata=api.md())
    near = report_request(lat=TDM[0] + 0.0009, source=pb.SOURCE_CITIZEN_APP)  # ~100 m north
    second = await api.stub.ReportIncident(near, metadata=api.md("citizen", "citizen-77"))
    assert second.merged and second.incident.id == first.incident.id
    assert second.incident.report_count == 2
    # The citizen joined someone else's incident: it learns the number and status, not the details.
    assert second.incident.number == first.incident.number and not second.incident.description
    seen = await api.stub.GetIncident(pb.GetIncidentRequest(id=first.incident.id), metadata=api.md())
    assert list(seen.sources) == [pb.SOURCE_HOTLINE_1022, pb.SOURCE_CITIZEN_APP]
    records = await consume(api.settings, INCIDENT_EVENTS.name, count=2)
    merged = event_of(records[-1])
    assert merged.WhichOneof("body") == "merged"
    assert merged.merged.report_count == 2 and 80 < merged.merged.distance_m < 120
    assert merged.merged.reporter_subject == "citizen-77"


async def test_report_beyond_the_radius_or_of_another_category_is_a_new_incident(api: Api) -> None:
    first = await api.stub.ReportIncident(report_request(), metadata=api.md())
    far = await api.stub.ReportIncident(report_request(lat=TDM[0] + 0.0030), metadata=api.md())  # ~330 m
    other = await api.stub.ReportIncident(report_request(category=pb.CATEGORY_UTILITY_OUTAGE), metadata=api.md())
    assert not far.merged and not other.merged
    assert len({first.incident.id, far.incident.id, other.incident.id}) == 3


async def test_report_count_escalates_priority(api: Api) -> None:
    replies = [await api.stub.ReportIncident(report_request(description="Ổ gà"), metadata=api.md())
               for _ in range(3)]
    assert replies[0].incident.priority == pb.PRIORITY_P4
    assert replies[2].incident.priority == pb.PRIORITY_P3 and replies[2].incident.escalation_level == 1
    records = await consume(api.settings, INCIDENT_EVENTS.name, count=4)
    escalated = [event_of(r) for r in records if event_of(r).WhichOneof("body") == "escalated"]
    assert len(escalated) == 1
    body = escalated[0].escalated
    assert body.reason == pb.ESCALATION_REASON_REPORT_COUNT
    assert (body.old_priority, body.new_priority, body.escalation_level) == (pb.PRIORITY_P4, pb.PRIORITY_P3, 1)


async def test_priority_override_is_for_operators_only(api: Api) -> None:
    req = report_request(priority_override=pb.PRIORITY_P1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ReportIncident(req, metadata=api.md("call_taker"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    reply = await api.stub.ReportIncident(req, metadata=api.md("operator"))
    assert reply.incident.priority == pb.PRIORITY_P1


async def test_citizen_may_not_report_as_hotline_or_sensor(api: Api) -> None:
    for source in (pb.SOURCE_HOTLINE_1022, pb.SOURCE_SENSOR):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.stub.ReportIncident(report_request(source=source), metadata=api.md("citizen"))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_numbers_follow_a_per_day_sequence(api: Api) -> None:
    numbers = [(await api.report_unfused(f"Hỏi thủ tục {i}")).number for i in range(3)]
    sequences = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]
    assert len({n.rsplit("-", 1)[0] for n in numbers}) == 1
