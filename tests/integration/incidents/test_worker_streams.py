"""The real incidents worker (subprocess) on the real broker: sensor alerts become incidents; their
clears are recorded and resolve the incident where the category's rule says so; hotline reports fuse
into sensor incidents across categories; dispatch events move the status; redeliveries change nothing."""

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
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.testing import consume, eventually
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS, SENSOR_ALERTS

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
          event_id: str | None = None, kind: int = sensors_pb.SENSOR_KIND_WATER_LEVEL) -> sensors_pb.SensorAlert:
    a = sensors_pb.SensorAlert(
        alert_id=alert_id, sensor_id=sensor_id, kind=kind, state=state, level=level,
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


async def alert_incident(city: City, producer: AIOKafkaProducer, a: sensors_pb.SensorAlert) -> str:
    """Send ``a``; the incident the worker linked it to."""
    await send_alert(city, producer, a)
    return await linked_incident(city, a.alert_id)


async def linked_incident(city: City, alert_id: str) -> str:
    async def check() -> str | None:
        conn = await asyncpg.connect(city.settings.database_url)
        try:
            value = await conn.fetchval("SELECT incident_id FROM incidents.alert_links WHERE alert_id = $1", alert_id)
            return str(value) if value else None
        finally:
            await conn.close()

    return str(await eventually(check, timeout=60, interval=0.2))


async def test_raised_alert_creates_an_incident_and_its_clear_resolves_the_flood(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    a1 = alert("alert-flood-1")
    incident_id = await alert_incident(city, producer, a1)
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
    # FLOOD has resolve_on_sensor_clear: true, and this was its only alert: the clear resolves it.
    assert [e.action for e in timeline.entries] == [
        "IncidentReported", "IncidentEscalated", "SensorAlertCleared", "IncidentTransitioned"]
    assert all(e.actor.subject == "system:incidents" for e in timeline.entries)
    assert timeline.entries[-1].after == "STATUS_RESOLVED" and "resolve_on_sensor_clear" in timeline.entries[-1].detail
    final = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
    assert final.report_count == 1 and final.priority == pb.PRIORITY_P2 and final.status == pb.STATUS_RESOLVED
    assert list(final.open_alert_ids) == [] and final.HasField("resolved_at")


async def timeline_of(api: Api, incident_id: str) -> list[tuple[str, str]]:
    t = await api.stub.GetTimeline(pb.GetTimelineRequest(id=incident_id), metadata=api.md())
    return [(e.action, e.after) for e in t.entries]


async def test_a_fire_stays_open_when_its_smoke_sensor_clears(city: City, api: Api, producer: AIOKafkaProducer) -> None:
    smoke = {"kind": sensors_pb.SENSOR_KIND_SMOKE, "sensor_id": "smoke-kcn-1", "lat": 11.05, "lon": 106.66}
    incident_id = await alert_incident(city, producer, alert("alert-smoke-1", **smoke))  # type: ignore[arg-type]
    await send_alert(city, producer, alert("alert-smoke-1", state=sensors_pb.ALERT_STATE_CLEARED, **smoke))  # type: ignore[arg-type]

    async def cleared() -> list[tuple[str, str]] | None:
        rows = await timeline_of(api, incident_id)
        return rows if rows[-1][0] == "SensorAlertCleared" else None

    assert await eventually(cleared, timeout=60, interval=0.2) == [
        ("IncidentReported", "STATUS_NEW"), ("SensorAlertCleared", "CLEARED")]
    inc = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
    assert inc.category == pb.CATEGORY_FIRE and inc.status == pb.STATUS_NEW  # FIRE: a person decides


async def test_a_flood_resolves_only_when_its_last_alert_clears(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    incident_id = await alert_incident(city, producer, alert("alert-two-1", lat=11.30, lon=106.40, sensor_id="wl-dt-1"))
    nearby = alert("alert-two-2", lat=11.301, lon=106.40, sensor_id="wl-dt-2")  # ~110 m
    assert await alert_incident(city, producer, nearby) == incident_id
    await send_alert(city, producer, alert("alert-two-1", state=sensors_pb.ALERT_STATE_CLEARED, lat=11.30, lon=106.40,
                                           sensor_id="wl-dt-1"))

    async def cleared_once() -> list[tuple[str, str]] | None:
        rows = await timeline_of(api, incident_id)
        return rows if rows[-1][0] == "SensorAlertCleared" else None

    await eventually(cleared_once, timeout=60, interval=0.2)
    inc = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
    assert inc.status == pb.STATUS_NEW and list(inc.open_alert_ids) == ["alert-two-2"]
    await send_alert(city, producer, alert("alert-two-2", state=sensors_pb.ALERT_STATE_CLEARED, lat=11.301,
                                           lon=106.40, sensor_id="wl-dt-2"))

    async def resolved() -> pb.Incident | None:
        got = await api.stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=api.md())
        return got if got.status == pb.STATUS_RESOLVED else None

    assert (await eventually(resolved, timeout=60, interval=0.2)).open_alert_ids == []


async def test_hotline_flooding_report_120_m_from_a_sensor_flood_fuses_into_it(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    flood_id = await alert_incident(city, producer, alert("alert-fuse-1", lat=10.93, lon=106.71, sensor_id="wl-ta-1"))
    reply = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_FIELD_REPORT, lat=10.93108, lon=106.71,  # ~120 m north
                       description="Đường ngập sâu, xe máy chết máy hàng loạt", address="Đại lộ Bình Dương, Thuận An"),
        metadata=api.md("call_taker", "ct-1022"))
    assert reply.merged and reply.incident.id == flood_id
    assert reply.incident.category == pb.CATEGORY_FLOOD and reply.incident.report_count == 2
    assert list(reply.incident.sources) == [pb.SOURCE_SENSOR, pb.SOURCE_HOTLINE_1022]
    t = await api.stub.GetTimeline(pb.GetTimelineRequest(id=flood_id), metadata=api.md())
    merged = [e for e in t.entries if e.action == "IncidentMerged"]
    assert len(merged) == 1 and merged[0].actor.subject == "ct-1022"
    detail = merged[0].detail
    assert "FIELD_REPORT≈FLOOD" in detail and "/ 500 m" in detail and "điểm 0." in detail
    assert "text similarity" in detail and reply.report_id in detail

    def is_merge(record: object) -> bool:
        e = pb.IncidentEvent.FromString(record.value)  # type: ignore[attr-defined]
        return e.incident_id == flood_id and e.WhichOneof("body") == "merged"

    records = await consume(city.settings, INCIDENT_EVENTS.name, count=1, predicate=is_merge, timeout=60)
    body = pb.IncidentEvent.FromString(records[0].value).merged
    assert body.report_category == pb.CATEGORY_FIELD_REPORT and 0 < body.score < 0.9
    assert 110 < body.distance_m < 130 and any("FIELD_REPORT≈FLOOD" in r for r in body.reasons)


async def test_a_pothole_report_next_to_a_flood_stays_its_own_incident(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    flood_id = await alert_incident(city, producer,
                                    alert("alert-pothole-1", lat=10.95, lon=106.75, sensor_id="wl-da-1"))
    reply = await api.stub.ReportIncident(
        report_request(category=pb.CATEGORY_FIELD_REPORT, lat=10.9505, lon=106.75, description="Ổ gà lớn giữa đường"),
        metadata=api.md())
    assert not reply.merged and reply.incident.id != flood_id


async def test_second_alert_nearby_merges_into_the_open_flood_incident(
    city: City, api: Api, producer: AIOKafkaProducer
) -> None:
    first = await alert_incident(city, producer, alert("alert-a", lat=11.20, lon=106.70, sensor_id="wl-a"))
    second = await alert_incident(city, producer, alert("alert-b", lat=11.2018, lon=106.70, sensor_id="wl-b"))  # ~200 m
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


