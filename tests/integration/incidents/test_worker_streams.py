"""The real incidents worker (subprocess) on the real broker: sensor alerts become incidents and
their clears are recorded; dispatch events move the status; redeliveries change nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import events_pb2 as dispatch_pb
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_platform.devstack import KafkaBroker, PostgresServer
from cityops_platform.kafka.topics import DISPATCH_EVENTS, SENSOR_ALERTS
from cityops_platform.testing import eventually

from .conftest import Api, City, api_on, city_for_module, report_request

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city(kafka_broker: KafkaBroker, postgres_server: PostgresServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    yield from city_for_module(kafka_broker, postgres_server, tmp_path_factory.mktemp("incidents-worker"))


@pytest.fixture
async def api(city: City) -> AsyncIterator[Api]:
    async with api_on(city.settings) as running:
        yield running


@pytest.fixture
async def producer(city: City) -> AsyncIterator[AIOKafkaProducer]:
    prod = AIOKafkaProducer(bootstrap_servers=city.settings.kafka_bootstrap, acks="all")
    await prod.start()
    yield prod
    await prod.stop()


def alert(alert_id: str, *, state: int = sensors_pb.ALERT_STATE_RAISED, level: int = sensors_pb.ALERT_LEVEL_WARN,
          lat: float = 11.10, lon: float = 106.60, value: float = 35.0, sensor_id: str = "wl-ben-cat-01",
          event_id: str | None = None) -> sensors_pb.SensorAlert:
    a = sensors_pb.SensorAlert(
        alert_id=alert_id, sensor_id=sensor_id, kind=sensors_pb.SENSOR_KIND_WATER_LEVEL, state=state, level=level,
        rule_type=sensors_pb.RULE_TYPE_THRESHOLD, value=value, threshold=30.0, unit="cm",
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Cầu Ông Cộ"), district="Bến Cát",
        event_id=event_id or str(uuid.uuid4()), sensor_name="Trạm đo mực nước Ông Cộ",
    )
    a.raised_at.GetCurrentTime()
    if state == sensors_pb.ALERT_STATE_CLEARED:
        a.cleared_at.GetCurrentTime()
    return a


async def send_alert(city: City, producer: AIOKafkaProducer, a: sensors_pb.SensorAlert) -> None:
    await producer.send_and_wait(SENSOR_ALERTS.full_name(city.settings.topic_prefix), a.SerializeToString(),
                                 key=a.sensor_id.encode())


async def linked_incident(city: City, alert_id: str) -> str:
    async def check() -> str | None:
        conn = await asyncpg.connect(city.settings.database_url)
        try:
            value = await conn.fetchval("SELECT incident_id FROM incidents.alert_links WHERE alert_id = $1", alert_id)
            return str(value) if value else None
        finally:
            await conn.close()

    return str(await eventually(check, timeout=60, interval=0.2))


async def test_raised_alert_creates_an_incident_and_its_clear_is_recorded(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    a1 = alert("alert-flood-1")
    await send_alert(city, producer, a1)
    incident_id = await linked_incident(city, "alert-flood-1")
    inc = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
    assert inc.category == pb.CATEGORY_FLOOD and list(inc.sources) == [pb.SOURCE_SENSOR]
    assert inc.priority == pb.PRIORITY_P3 and inc.subcategory == "ngap_duong"
    assert list(inc.open_alert_ids) == ["alert-flood-1"] and inc.external_ids["sensor_alert"] == "alert-flood-1"

    # Redelivery of the same record, and a re-emission with a new event id: nothing new.
    await send_alert(city, producer, a1)
    again = alert("alert-flood-1")
    await send_alert(city, producer, again)
    # WARN → CRITICAL re-raise escalates; then the clear.
    await send_alert(city, producer, alert("alert-flood-1", level=sensors_pb.ALERT_LEVEL_CRITICAL, value=55))
    await send_alert(city, producer, alert("alert-flood-1", state=sensors_pb.ALERT_STATE_CLEARED, value=12))

    async def cleared() -> pb.Timeline | None:
        t = await api.stub.GetTimeline(pb.GetTimelineRequest(id=incident_id), metadata=api.md())
        return t if any(e.action == "SensorAlertCleared" for e in t.entries) else None

    timeline = await eventually(cleared, timeout=60, interval=0.2)
    assert [e.action for e in timeline.entries] == ["IncidentReported", "IncidentEscalated", "SensorAlertCleared"]
    assert all(e.actor.subject == "system:incidents" for e in timeline.entries)
    final = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
    assert final.report_count == 1 and final.priority == pb.PRIORITY_P2 and final.status == pb.STATUS_NEW
    assert list(final.open_alert_ids) == []


async def test_second_alert_nearby_merges_into_the_open_flood_incident(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    await send_alert(city, producer, alert("alert-a", lat=11.20, lon=106.70, sensor_id="wl-a"))
    first = await linked_incident(city, "alert-a")
    await send_alert(city, producer, alert("alert-b", lat=11.2018, lon=106.70, sensor_id="wl-b"))  # ~200 m
    second = await linked_incident(city, "alert-b")
    assert second == first
    inc = await api.stub.GetIncident(pb.GetIncidentRequest(id=first), metadata=api.md())
    assert inc.report_count == 2 and sorted(inc.open_alert_ids) == ["alert-a", "alert-b"]


def dispatch_event(incident_id: str, kind: str, *, event_id: str | None = None,
                   call_sign: str = "PCCC-TDM-01") -> dispatch_pb.DispatchEvent:
    e = dispatch_pb.DispatchEvent(event_id=event_id or str(uuid.uuid4()), incident_id=incident_id,
                                  assignment_id="asg-1", unit_id="unit-1",
                                  actor=common_pb2.Actor(subject="svc-dispatch", role="integrator"))
    e.occurred_at.GetCurrentTime()
    e.unit.call_sign = call_sign
    e.unit.agency = common_pb2.AGENCY_FIRE_RESCUE_114
    if kind == "unit_assigned":
        e.unit_assigned.call_sign = call_sign
        e.unit_assigned.agency = common_pb2.AGENCY_FIRE_RESCUE_114
    else:
        e.unit_arrived.location.lat = 10.98
    return e


async def test_dispatch_events_move_the_status_once(city: City, api: Api, producer: AIOKafkaProducer) -> None:
    reply = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_FIRE, description="Cháy nhà xưởng"), metadata=api.md())
    inc_id = reply.incident.id
    topic = DISPATCH_EVENTS.full_name(city.settings.topic_prefix)
    assigned = dispatch_event(inc_id, "unit_assigned")
    for e in (assigned, assigned, dispatch_event(inc_id, "unit_arrived")):
        await producer.send_and_wait(topic, e.SerializeToString(), key=inc_id.encode())

    async def on_scene() -> pb.Incident | None:
        got = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc_id), metadata=api.md())
        return got if got.status == pb.STATUS_ON_SCENE else None

    inc = await eventually(on_scene, timeout=60, interval=0.2)
    assert inc.version == 3 and inc.HasField("dispatched_at")

    # A second unit assigned after arrival: no longer a legal move; recorded, not applied.
    late = dispatch_event(inc_id, "unit_assigned", call_sign="PCCC-TDM-02")
    await producer.send_and_wait(topic, late.SerializeToString(), key=inc_id.encode())

    async def skipped() -> pb.Timeline | None:
        t = await api.stub.GetTimeline(pb.GetTimelineRequest(id=inc_id), metadata=api.md())
        return t if t.entries[-1].action == "DispatchEventSkipped" else None

    timeline = await eventually(skipped, timeout=60, interval=0.2)
    assert [(e.action, e.after) for e in timeline.entries] == [
        ("IncidentReported", "STATUS_NEW"),
        ("IncidentTransitioned", "STATUS_DISPATCHED"),
        ("IncidentTransitioned", "STATUS_ON_SCENE"),
        ("DispatchEventSkipped", "STATUS_DISPATCHED"),
    ]
    assert timeline.entries[1].actor.subject == "svc-dispatch"
    assert "PCCC-TDM-02" in timeline.entries[3].detail
    final = await api.stub.GetIncident(pb.GetIncidentRequest(id=inc_id), metadata=api.md())
    assert final.version == 3


def test_worker_is_still_running(city: City) -> None:
    assert city.worker.proc is not None and city.worker.proc.poll() is None, city.worker.logs()


