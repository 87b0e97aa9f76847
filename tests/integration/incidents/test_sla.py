"""SLA escalation by the real worker's timer: a missed deadline raises the priority one step,
emits IncidentEscalated and is recorded, once per stage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.config import load_rules, raw_default_rules
from cityops_platform.devstack import KafkaBroker, PostgresServer
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.testing import consume, eventually

from .conftest import Api, City, api_on, city_for_module, report_request

pytestmark = pytest.mark.integration
SWEEP_S = 0.3


def fast_sla_rules() -> dict:
    raw = raw_default_rules()
    stages = {"acknowledge": "1s", "dispatch": "2s", "resolve": "1h"}
    raw["sla"] = {"default": {p: dict(stages) for p in ("P1", "P2", "P3", "P4")}, "categories": {}}
    return raw


@pytest.fixture(scope="module")
def city(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    yield from city_for_module(kafka_broker, postgres_server, tmp_path_factory.mktemp("incidents-sla"),
                               rules=fast_sla_rules(), sla_sweep_seconds=SWEEP_S)


@pytest.fixture
async def api(city: City, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    # The api computes sla_due_at with the same rules file as the worker.
    monkeypatch.setenv("CITYOPS_INCIDENTS_RULES_FILE", city.worker.env["CITYOPS_INCIDENTS_RULES_FILE"])
    async with api_on(city.settings) as running:
        yield running
    load_rules.cache_clear()


async def test_missed_deadlines_escalate_once_per_stage(city: City, api: Api) -> None:
    reply = await api.stub.ReportIncident(report_request(description="Rác thải ùn ứ"), metadata=api.md())
    inc = reply.incident
    assert inc.priority == pb.PRIORITY_P4 and inc.sla_stage == pb.SLA_STAGE_ACKNOWLEDGE
    assert (inc.sla_due_at.ToDatetime() - inc.created_at.ToDatetime()).total_seconds() == pytest.approx(1, abs=0.01)

    async def escalated(level: int) -> pb.Incident | None:
        got = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
        return got if got.escalation_level >= level else None

    after_ack = await eventually(lambda: escalated(1), timeout=30, interval=0.1)
    assert after_ack.priority == pb.PRIORITY_P3
    # Several more sweeps pass: the ACKNOWLEDGE breach is not escalated again.
    await asyncio.sleep(SWEEP_S * 5)
    still = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc.id), metadata=api.md())
    assert (still.escalation_level, still.priority) == (1, pb.PRIORITY_P3)

    await api.stub.TransitionIncident(pb.TransitionIncidentRequest(id=inc.id, to_status=pb.STATUS_ACKNOWLEDGED,
                                                                   expected_version=still.version),
                                      metadata=api.md("operator"))
    after_dispatch = await eventually(lambda: escalated(2), timeout=30, interval=0.1)
    assert after_dispatch.priority == pb.PRIORITY_P2 and after_dispatch.sla_stage == pb.SLA_STAGE_DISPATCH

    timeline = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc.id), metadata=api.md())
    escalations = [e for e in timeline.entries if e.action == "IncidentEscalated"]
    assert [(e.before, e.after, e.actor.subject) for e in escalations] == [
        ("P4", "P3", "system:incidents"), ("P3", "P2", "system:incidents")]

    records = await consume(city.settings, INCIDENT_EVENTS.name, count=2,
                            predicate=lambda r: dict(r.headers)["cityops-event-type"] == b"IncidentEscalated"
                            and r.key == inc.id.encode())
    bodies = []
    for record in records:
        event = pb.IncidentEvent()
        event.ParseFromString(record.value)
        bodies.append(event.escalated)
    assert [b.reason for b in bodies] == [pb.ESCALATION_REASON_SLA_ACK, pb.ESCALATION_REASON_SLA_DISPATCH]
    assert [b.sla_stage for b in bodies] == [pb.SLA_STAGE_ACKNOWLEDGE, pb.SLA_STAGE_DISPATCH]
    assert bodies[0].breached_due_at == inc.sla_due_at
