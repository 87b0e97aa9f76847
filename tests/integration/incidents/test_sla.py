"""SLA clocks run by the real worker's timer: each stage's clock starts with its stage, a breach
escalates once per stage by one step without making the next stage overdue, a pre-breach warning
is published once per stage, and AWAITING_DOSSIER (chờ bổ sung hồ sơ) stops the clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import eventually
from cityops_incidents.rules import load_rules, raw_default_rules

from .conftest import Api, City, api_on, city_for_module, incident_events, report_request

pytestmark = pytest.mark.integration
SWEEP_S = 0.3
# Administrative procedures' working-time clock, on a calendar where every hour is office time
# (the real calendar's arithmetic is tested in test_sla_working_time.py with an injected clock).
ALWAYS_OPEN = {"timezone": "Asia/Ho_Chi_Minh", "working_weekdays": [1, 2, 3, 4, 5, 6, 7],
               "hours": [["00:00", "24:00"]], "covers": [2020, 2035], "holidays": [], "working_days": []}


def fast_sla_rules(calendar: Path) -> dict[str, Any]:
    raw = raw_default_rules()
    slow = {"acknowledge": "1h", "dispatch": "1h", "resolve": "1h"}
    raw["sla"] = {
        "warning_fraction": 0.05,
        "working_time": {"calendar": str(calendar), "categories": ["ADMINISTRATIVE_PROCEDURE"]},
        "pausable_categories": ["ADMINISTRATIVE_PROCEDURE"],
        "default": {
            "P1": dict(slow), "P2": dict(slow),
            # P3: a 60 s acknowledgement warns after 3 s, long before it breaches.
            "P3": {"acknowledge": "60s", "dispatch": "3s", "resolve": "1h"},
            "P4": {"acknowledge": "1s", "dispatch": "1h", "resolve": "1h"},
        },
        "categories": {"ADMINISTRATIVE_PROCEDURE": {
            "P1": dict(slow), "P2": dict(slow), "P3": dict(slow),
            "P4": {"acknowledge": "1h", "dispatch": "6s", "resolve": "1h"},
        }},
    }
    return raw


@pytest.fixture(scope="module")
def city(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    tmp = tmp_path_factory.mktemp("incidents-sla")
    calendar = tmp / "always_open.yaml"
    calendar.write_text(yaml.safe_dump(ALWAYS_OPEN), encoding="utf-8")
    yield from city_for_module(kafka_broker, postgres_server, tmp, rules=fast_sla_rules(calendar),
                               sla_sweep_seconds=SWEEP_S)


@pytest.fixture
async def api(city: City, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    # The api computes the clocks with the same rules file as the worker.
    monkeypatch.setenv("CITYOPS_INCIDENTS_RULES_FILE", city.worker.env["CITYOPS_INCIDENTS_RULES_FILE"])
    load_rules.cache_clear()
    async with api_on(city.settings) as running:
        yield running
    load_rules.cache_clear()


def seconds_between(later: Any, earlier: Any) -> float:
    return (later.ToDatetime() - earlier.ToDatetime()).total_seconds()


async def events_of(city: City, incident_id: str, event_type: str, count: int) -> list[pb.IncidentEvent]:
    return await incident_events(city.settings, incident_id, count, event_type)


async def get(api: Api, incident_id: str) -> pb.Incident:
    return await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())


async def move(api: Api, incident_id: str, status: pb.Status.ValueType, reason: str = "") -> pb.Incident:
    """TransitionIncident at the current version, as an operator. The worker may publish a warning
    between the read and the write (a new version): a stale version is read again and retried."""
    for _ in range(5):
        current = await get(api, incident_id)
        try:
            return await api.stub.TransitionIncident(
                pb.TransitionIncidentRequest(id=incident_id, to_status=status, reason=reason,
                                             expected_version=current.version), metadata=api.md("operator"))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION or "stale version" not in (err.details() or ""):
                raise
    raise AssertionError("the version kept changing")


async def test_each_stage_clock_starts_with_its_stage_and_breaches_escalate_one_step(city: City, api: Api) -> None:
    reply = await api.stub.ReportIncident(report_request(description="Rác thải ùn ứ", priority_override=pb.PRIORITY_P4),
                                          metadata=api.md("operator"))
    inc = reply.incident
    assert inc.priority == pb.PRIORITY_P4 and inc.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE
    assert inc.sla_started_at == inc.created_at
    assert seconds_between(inc.sla_due_at, inc.created_at) == pytest.approx(1, abs=0.01)

    async def escalated(level: int) -> pb.Incident | None:
        got = await get(api, inc.id)
        return got if got.escalation_level >= level else None

    after_ack = await eventually(lambda: escalated(1), timeout=30, interval=0.1)
    assert after_ack.priority == pb.PRIORITY_P3
    # Several more sweeps pass: the ACKNOWLEDGE breach is not escalated again.
    await asyncio.sleep(SWEEP_S * 5)
    still = await get(api, inc.id)
    assert (still.escalation_level, still.priority) == (1, pb.PRIORITY_P3)

    acked = await move(api, inc.id, pb.STATUS_ACKNOWLEDGED)
    # The dispatch clock starts at the acknowledgement, at the escalated priority (P3: 3 s), not at
    # creation: the late acknowledgement does not make the dispatch stage overdue.
    assert acked.sla_stage == pb.SLA_STAGE_DISPATCH and acked.sla_started_at == acked.acknowledged_at
    assert seconds_between(acked.sla_due_at, acked.acknowledged_at) == pytest.approx(3, abs=0.01)
    assert acked.sla_due_at.ToDatetime() > acked.updated_at.ToDatetime()

    after_dispatch = await eventually(lambda: escalated(2), timeout=30, interval=0.1)
    assert after_dispatch.priority == pb.PRIORITY_P2 and after_dispatch.sla_stage == pb.SLA_STAGE_DISPATCH

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    escalations = [e for e in timeline.entries if e.action == "IncidentEscalated"]
    assert [(e.before, e.after, e.actor.subject) for e in escalations] == [
        ("P4", "P3", "system:incidents"), ("P3", "P2", "system:incidents")]

    bodies = [e.escalated for e in await events_of(city, inc.id, "IncidentEscalated", 2)]
    assert [b.reason for b in bodies] == [pb.ESCALATION_REASON_SLA_ACK, pb.ESCALATION_REASON_SLA_DISPATCH]
    assert [b.sla_stage for b in bodies] == [pb.SLA_STAGE_ACKNOWLEDGE, pb.SLA_STAGE_DISPATCH]
    assert [(b.old_priority, b.new_priority) for b in bodies] == [
        (pb.PRIORITY_P4, pb.PRIORITY_P3), (pb.PRIORITY_P3, pb.PRIORITY_P2)]
    assert bodies[0].breached_due_at == inc.sla_due_at
    assert bodies[1].breached_due_at == acked.sla_due_at


async def test_pre_breach_warning_is_published_once_per_stage(city: City, api: Api) -> None:
    # Elsewhere than the other tests' reports, so that it does not fuse with them.
    reply = await api.stub.ReportIncident(report_request(description="Cây xanh nghiêng", lat=10.93, lon=106.71,
                                                         priority_override=pb.PRIORITY_P3),
                                          metadata=api.md("operator"))
    inc = reply.incident
    # 5 % of the 60 s acknowledgement allowance.
    assert seconds_between(inc.sla_warning_at, inc.sla_started_at) == pytest.approx(3, abs=0.01)
    [event] = await events_of(city, inc.id, "IncidentSlaWarning", 1)
    warning = event.sla_warning
    assert warning.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE and warning.due_at == inc.sla_due_at
    assert warning.priority == pb.PRIORITY_P3 and not warning.working_time
    assert 0 < warning.remaining_seconds <= 57
    assert event.actor.subject == "system:incidents"

    await asyncio.sleep(SWEEP_S * 5)
    current = await get(api, inc.id)
    assert current.escalation_level == 0 and current.priority == pb.PRIORITY_P3
    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    warnings = [e for e in timeline.entries if e.action == "IncidentSlaWarning"]
    assert len(warnings) == 1 and warnings[0].before == "ACKNOWLEDGE"
    assert "Sắp quá hạn" in warnings[0].detail


async def test_awaiting_dossier_stops_the_clock_and_resume_restores_what_was_left(city: City, api: Api) -> None:
    reply = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_ADMINISTRATIVE_PROCEDURE, description="Hỏi thủ tục cấp giấy phép xây dựng",
                       priority_override=pb.PRIORITY_P4), metadata=api.md("operator"))
    inc = reply.incident
    assert inc.sla_working_time
    acked = await move(api, inc.id, pb.STATUS_ACKNOWLEDGED)
    assert seconds_between(acked.sla_due_at, acked.acknowledged_at) == pytest.approx(6, abs=0.01)

    paused = await move(api, inc.id, pb.STATUS_AWAITING_DOSSIER, "Thiếu bản sao sổ đỏ có chứng thực")
    assert paused.status == pb.STATUS_AWAITING_DOSSIER and paused.sla_stage == pb.SLA_STAGE_DISPATCH
    assert not paused.HasField("sla_due_at") and paused.HasField("sla_paused_at")
    expected_left = seconds_between(acked.sla_due_at, paused.sla_paused_at)
    assert paused.sla_remaining_seconds == pytest.approx(expected_left, abs=0.01)

    # Past the original deadline while paused: nothing breaches.
    await asyncio.sleep(SWEEP_S * 25)
    waiting = await get(api, inc.id)
    assert waiting.escalation_level == 0 and waiting.status == pb.STATUS_AWAITING_DOSSIER

    with pytest.raises(grpc.aio.AioRpcError) as err:  # DISPATCHED belongs to another stage
        await move(api, inc.id, pb.STATUS_DISPATCHED)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "giai đoạn" in (err.value.details() or "")

    resumed = await move(api, inc.id, pb.STATUS_ACKNOWLEDGED, "Đã nhận đủ hồ sơ")
    assert resumed.sla_stage == pb.SLA_STAGE_DISPATCH and not resumed.HasField("sla_paused_at")
    assert seconds_between(resumed.sla_due_at, resumed.updated_at) == pytest.approx(paused.sla_remaining_seconds,
                                                                                    abs=0.01)
    assert resumed.sla_started_at == acked.sla_started_at  # the same stage, resumed

    breached = await eventually(lambda: _escalated(api, inc.id), timeout=30, interval=0.1)
    assert breached.sla_stage == pb.SLA_STAGE_DISPATCH
    [event] = await events_of(city, inc.id, "IncidentEscalated", 1)
    assert event.escalated.reason == pb.ESCALATION_REASON_SLA_DISPATCH
    assert event.escalated.breached_due_at == resumed.sla_due_at

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    actions = [e.action for e in timeline.entries]
    assert actions.index("SlaClockPaused") < actions.index("SlaClockResumed") < actions.index("IncidentEscalated")
    pause_entry = next(e for e in timeline.entries if e.action == "SlaClockPaused")
    assert (pause_entry.before, pause_entry.after) == ("STATUS_ACKNOWLEDGED", "STATUS_AWAITING_DOSSIER")
    assert "chờ bổ sung hồ sơ" in pause_entry.detail and pause_entry.actor.role == "operator"


async def _escalated(api: Api, incident_id: str) -> pb.Incident | None:
    got = await get(api, incident_id)
    return got if got.escalation_level >= 1 else None


async def test_only_administrative_procedures_wait_for_a_dossier(city: City, api: Api) -> None:
    reply = await api.stub.ReportIncident(report_request(description="Đèn giao thông tắt", lat=10.91, lon=106.77),
                                          metadata=api.md())
    inc = reply.incident
    await move(api, inc.id, pb.STATUS_ACKNOWLEDGED)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await move(api, inc.id, pb.STATUS_AWAITING_DOSSIER, "thiếu giấy tờ")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "chờ bổ sung hồ sơ" in (err.value.details() or "")
    admin = (await api.stub.ReportIncident(report_request(category=pb.CATEGORY_ADMINISTRATIVE_PROCEDURE,
                                                          description="Hỏi thủ tục khai sinh"),
                                           metadata=api.md())).incident
    await move(api, admin.id, pb.STATUS_ACKNOWLEDGED)
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the pause must say what is missing
        await move(api, admin.id, pb.STATUS_AWAITING_DOSSIER)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
