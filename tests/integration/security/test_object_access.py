"""Object-level authorization against the real apis (Postgres, Kafka): a valid role is not enough,
the caller must also be allowed to touch *that* unit, assignment, sensor, report or subscription.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2 as dpb
from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops.sensors.v1 import sensors_pb2 as spb
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack._process import spawn, terminate
from cityops_devtools.testing import free_port
from cityops_dispatch.incidents_view.service import apply_event

pytestmark = pytest.mark.integration


def _code(call, *args, **kwargs) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def _unit(unit_id: str, lat: float) -> dpb.Unit:
    return dpb.Unit(
        id=unit_id,
        call_sign=unit_id.upper(),
        agency=common_pb2.Agency.AGENCY_MEDICAL_115,
        capabilities=["ALS"],
        unit_type="AMBULANCE",
        location=common_pb2.GeoPoint(lat=lat, lon=106.6519, address="Thủ Dầu Một"),
    )


async def _known_incident(dsn: str, incident: ipb.Incident) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET search_path TO dispatch, public")
        async with conn.transaction():
            await apply_event(
                conn, ipb.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=incident.id, incident=incident)
            )
    finally:
        await conn.close()


def _incident() -> ipb.Incident:
    ident = str(uuid.uuid4())
    return ipb.Incident(
        id=ident,
        number=f"BD-20261201-{ident[:6]}",
        category=ipb.Category.CATEGORY_EMERGENCY_MEDICAL,
        priority=ipb.Priority.PRIORITY_P3,
        status=ipb.Status.STATUS_NEW,
        description="Ngã quỵ",
        location=common_pb2.GeoPoint(lat=10.9804, lon=106.6519, address="Đại lộ Bình Dương"),
        report_count=1,
        version=1,
        district="Thủ Dầu Một",
    )


def test_a_field_unit_token_acts_only_on_its_own_unit_and_assignments(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["dispatch"].stub
    mine, other = f"fu-a-{uuid.uuid4().hex[:6]}", f"fu-b-{uuid.uuid4().hex[:6]}"
    for unit_id, lat in ((mine, 10.981), (other, 10.982)):
        stub.RegisterUnit(dpb.RegisterUnitRequest(unit=_unit(unit_id, lat)), metadata=host.md("admin"))
    incident = _incident()
    host.run(_known_incident(host.settings.database_url, incident))
    theirs = stub.AssignUnit(
        dpb.AssignUnitRequest(incident_id=incident.id, unit_id=other, reason="gần nhất"), metadata=host.md("dispatcher")
    )
    me = host.md("field_unit", unit_id=mine)
    unbound = host.md("field_unit")

    # Another unit's assignment: neither accepted nor declined by me; unchanged afterwards.
    accept = dpb.AcknowledgeAssignmentRequest(assignment_id=theirs.id, accept=True)
    decline = dpb.AcknowledgeAssignmentRequest(assignment_id=theirs.id, accept=False, reason="không phải xe tôi")
    for case, (request, metadata) in enumerate(((accept, me), (decline, me), (accept, unbound))):
        assert _code(stub.AcknowledgeAssignment, request, metadata=metadata) == grpc.StatusCode.PERMISSION_DENIED, case
    [still] = stub.ListAssignments(
        dpb.ListAssignmentsRequest(incident_id=incident.id), metadata=host.md("dispatcher")
    ).assignments
    assert still.status == dpb.ASSIGNMENT_STATUS_ASSIGNED

    # Another unit's status: refused; my own: applied.
    assert (
        _code(
            stub.UpdateUnitStatus,
            dpb.UpdateUnitStatusRequest(unit_id=other, status=dpb.UNIT_STATUS_OUT_OF_SERVICE),
            metadata=me,
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert stub.GetUnit(dpb.GetUnitRequest(id=other), metadata=host.md("admin")).status == dpb.UNIT_STATUS_DISPATCHED
    own = stub.UpdateUnitStatus(
        dpb.UpdateUnitStatusRequest(unit_id=mine, status=dpb.UNIT_STATUS_OUT_OF_SERVICE, reason="bảo dưỡng"),
        metadata=me,
    )
    assert own.status == dpb.UNIT_STATUS_OUT_OF_SERVICE

    # The owner of the assignment may answer it.
    answered = stub.AcknowledgeAssignment(
        dpb.AcknowledgeAssignmentRequest(assignment_id=theirs.id, accept=True),
        metadata=host.md("field_unit", unit_id=other),
    )
    assert answered.status == dpb.ASSIGNMENT_STATUS_ACKNOWLEDGED

    # AVL: a fix for another unit ends the stream with PERMISSION_DENIED and moves nothing.
    def fix(unit_id: str) -> dpb.UnitLocation:
        msg = dpb.UnitLocation(unit_id=unit_id, location=common_pb2.GeoPoint(lat=11.2, lon=106.7))
        msg.observed_at.FromDatetime(datetime.now(UTC))
        return msg

    assert _code(stub.StreamLocations, iter([fix(other)]), metadata=me) == grpc.StatusCode.PERMISSION_DENIED
    assert stub.GetUnit(dpb.GetUnitRequest(id=other), metadata=host.md("admin")).location.lat == pytest.approx(10.982)
    summary = stub.StreamLocations(iter([fix(mine)]), metadata=me)
    assert (summary.accepted, summary.rejected) == (1, 0)


def _sensor(sensor_id: str, *, lat: float = 10.98, kind: int = 0) -> object:
    return spb.Sensor(
        id=sensor_id,
        kind=kind or spb.SENSOR_KIND_WATER_LEVEL,
        district="Thủ Dầu Một",
        reporting_interval_seconds=60,
        name="Mực nước",
        location=common_pb2.GeoPoint(lat=lat, lon=106.65, address="Rạch Bà Lụa"),
    )


def test_a_sensor_gateway_owns_what_it_registers_and_feeds_only_its_own_sensors(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["sensors"].stub
    tag = uuid.uuid4().hex[:6]
    gw_a, gw_b = (
        host.md("sensor_gateway", gateway_id=f"gw-a-{tag}"),
        host.md("sensor_gateway", gateway_id=f"gw-b-{tag}"),
    )
    sid_a, sid_staff = f"wl-a-{tag}", f"wl-staff-{tag}"
    stub.RegisterSensor(spb.RegisterSensorRequest(sensor=_sensor(sid_a)), metadata=gw_a)
    stub.RegisterSensor(spb.RegisterSensorRequest(sensor=_sensor(sid_staff)), metadata=host.md("admin"))
    # Gateway B moves / re-kinds A's sensor, or takes over a staff sensor: refused, nothing changes.
    moved = _sensor(sid_a, lat=11.5, kind=spb.SENSOR_KIND_SMOKE)
    assert (
        _code(stub.RegisterSensor, spb.RegisterSensorRequest(sensor=moved), metadata=gw_b)
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        _code(stub.RegisterSensor, spb.RegisterSensorRequest(sensor=_sensor(sid_staff, lat=11.4)), metadata=gw_b)
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        _code(
            stub.RegisterSensor,
            spb.RegisterSensorRequest(sensor=_sensor(f"wl-x-{tag}")),
            metadata=host.md("sensor_gateway"),
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )  # unbound token
    kept = stub.GetSensor(spb.GetSensorRequest(id=sid_a), metadata=host.md("admin"))
    assert kept.kind == spb.SENSOR_KIND_WATER_LEVEL and kept.location.lat == pytest.approx(10.98)
    # The owner may re-register its own sensor.
    stub.RegisterSensor(spb.RegisterSensorRequest(sensor=_sensor(sid_a, lat=10.99)), metadata=gw_a)

    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    batch = spb.ReadingBatch(
        columns=spb.ReadingColumns(
            sensor_ids=[sid_a, sid_staff, sid_a], values=[900.0, 900.0, 5.0], observed_at_ms=[now_ms, now_ms, now_ms]
        )
    )
    forged = stub.IngestReadings(iter([batch]), metadata=gw_b, timeout=30)
    assert (forged.accepted, forged.rejected) == (0, 3)
    assert {r.reason for r in forged.rejections} == {spb.REJECTION_REASON_NOT_OWNED}
    assert [r.index for r in forged.rejections] == [0, 1, 2]
    own = stub.IngestReadings(iter([batch]), metadata=gw_a, timeout=30)
    assert (own.accepted, own.rejected) == (2, 1)
    [refused] = own.rejections
    assert (refused.sensor_id, refused.reason, refused.index) == (sid_staff, spb.REJECTION_REASON_NOT_OWNED, 1)


def test_a_reading_batch_over_the_documented_10000_cap_is_invalid_argument(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["sensors"].stub
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    n = 10_001
    batch = spb.ReadingBatch(
        columns=spb.ReadingColumns(
            sensor_ids=[f"cap-{i}" for i in range(n)], values=[1.0] * n, observed_at_ms=[now_ms] * n
        )
    )
    with pytest.raises(grpc.RpcError) as too_big:
        stub.IngestReadings(iter([batch]), metadata=host.md("admin"), timeout=30)
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    ok = spb.ReadingBatch(
        columns=spb.ReadingColumns(
            sensor_ids=[f"cap-{i}" for i in range(10_000)], values=[1.0] * 10_000, observed_at_ms=[now_ms] * 10_000
        )
    )
    summary = stub.IngestReadings(iter([ok]), metadata=host.md("admin"), timeout=30)
    assert summary.rejected == 10_000  # unknown sensors, but the batch itself is within the cap


def _spot() -> tuple[float, float]:
    """A fresh spot in Thủ Dầu Một, away from the other tests' reports (fusion radius is metres)."""
    import random

    return 10.95 + random.random() * 0.12, 106.62 + random.random() * 0.1


def _report(
    lat: float,
    lon: float,
    *,
    key: str,
    description: str = "Ổ gà lớn giữa đường, xe máy ngã",
    source: int = ipb.SOURCE_CITIZEN_APP,
    **kwargs: object,
) -> ipb.ReportIncidentRequest:
    return ipb.ReportIncidentRequest(
        category=ipb.CATEGORY_FIELD_REPORT,
        source=source,
        description=description,
        idempotency_key=key,  # type: ignore[arg-type]
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Đường Yersin"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_citizen_next_to_anothers_incident_gets_only_its_number_and_status(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["incidents"].stub
    lat, lon = _spot()
    first = stub.ReportIncident(
        _report(
            lat,
            lon,
            key=f"a-{uuid.uuid4().hex}",
            external_ids={"app": "secret-ref-1"},
            reporter=ipb.Reporter(name="Nguyễn Văn A", phone="0912345678"),
        ),
        metadata=host.md("citizen", "citizen-a"),
    )
    assert not first.merged and first.incident.description  # the reporter of it sees it whole
    second = stub.ReportIncident(
        _report(lat, lon, key=f"b-{uuid.uuid4().hex}", description="Ổ gà lớn"), metadata=host.md("citizen", "citizen-b")
    )
    assert second.merged and second.incident.id == first.incident.id
    seen = second.incident
    assert (seen.number, seen.status) == (first.incident.number, first.incident.status)
    assert not seen.description and not dict(seen.external_ids) and not seen.location.address
    assert seen.location.lat == 0.0
    # Staff filing the same still sees the incident it joined.
    staff = stub.ReportIncident(
        _report(lat, lon, key=f"c-{uuid.uuid4().hex}", source=ipb.SOURCE_HOTLINE_1022), metadata=host.md("call_taker")
    )
    assert staff.merged and staff.incident.description == first.incident.description


def test_idempotency_keys_are_scoped_to_their_caller(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["incidents"].stub
    key = f"shared-key-{uuid.uuid4().hex}"
    lat, lon = _spot()
    mine = stub.ReportIncident(
        _report(lat, lon, key=key, description="Cây đổ chắn ngang đường"), metadata=host.md("citizen", "victim")
    )
    again = stub.ReportIncident(
        _report(lat, lon, key=key, description="Cây đổ chắn ngang đường"), metadata=host.md("citizen", "victim")
    )
    assert again.report_id == mine.report_id  # the same caller's retry: the same report
    far_lat, far_lon = _spot()
    replayed = stub.ReportIncident(
        _report(far_lat, far_lon, key=key, description="Đèn đường hỏng"), metadata=host.md("citizen", "attacker")
    )
    assert replayed.report_id != mine.report_id and replayed.incident.id != mine.incident.id
    assert replayed.incident.description == "Đèn đường hỏng"  # its own new report, not the victim's


def test_one_citizen_repeating_a_report_does_not_escalate_but_distinct_reporters_do(host) -> None:  # type: ignore[no-untyped-def]
    stub = host.apis["incidents"].stub
    lat, lon = _spot()
    replies = [
        stub.ReportIncident(
            _report(lat, lon, key=f"rep-{i}-{uuid.uuid4().hex}"), metadata=host.md("citizen", "repeater")
        )
        for i in range(4)
    ]
    incident_id = replies[0].incident.id
    assert {r.incident.id for r in replies} == {incident_id}
    before = stub.GetIncident(ipb.GetIncidentRequest(id=incident_id), metadata=host.md("operator"))
    assert before.report_count == 4 and before.priority == replies[0].incident.priority
    for who in ("neighbour-1", "neighbour-2"):
        stub.ReportIncident(_report(lat, lon, key=f"n-{uuid.uuid4().hex}"), metadata=host.md("citizen", who))
    after = stub.GetIncident(ipb.GetIncidentRequest(id=incident_id), metadata=host.md("operator"))
    assert after.report_count == 6 and after.priority < before.priority  # three people: one step up


def test_a_caller_sees_and_deletes_only_its_own_subscriptions_unless_admin(host) -> None:  # type: ignore[no-untyped-def]
    from cityops.notifications.v1 import notifications_pb2 as npb

    stub = host.apis["notifications"].stub
    owner, other = f"op-owner-{uuid.uuid4().hex[:6]}", f"op-other-{uuid.uuid4().hex[:6]}"
    sub = stub.CreateSubscription(
        npb.CreateSubscriptionRequest(
            subscription=npb.Subscription(
                channel=npb.CHANNEL_EMAIL,
                address="truc-ban@example.vn",
                language="vi",
                filter=npb.SubscriptionFilter(event_types=["IncidentReported"]),
            )
        ),
        metadata=host.md("operator", owner),
    )
    theirs = stub.ListSubscriptions(npb.ListSubscriptionsRequest(), metadata=host.md("operator", other))
    assert sub.id not in [s.id for s in theirs.subscriptions]
    assert (
        _code(stub.ListSubscriptions, npb.ListSubscriptionsRequest(owner=owner), metadata=host.md("operator", other))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        _code(stub.DeleteSubscription, npb.DeleteSubscriptionRequest(id=sub.id), metadata=host.md("operator", other))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    everyone = stub.ListSubscriptions(
        npb.ListSubscriptionsRequest(owner="*", page_size=1000), metadata=host.md("admin")
    )
    assert sub.id in [s.id for s in everyone.subscriptions]
    stub.DeleteSubscription(npb.DeleteSubscriptionRequest(id=sub.id), metadata=host.md("operator", owner))


def test_server_streams_per_principal_are_capped_with_failed_precondition(host) -> None:  # type: ignore[no-untyped-def]
    import time

    stub = host.apis["incidents"].stub
    limit = host.settings.max_streams_per_principal
    assert limit == 4
    me = host.md("operator", f"wall-{uuid.uuid4().hex[:6]}")
    calls = [stub.WatchIncidents(ipb.WatchIncidentsRequest(), metadata=me, timeout=60) for _ in range(limit)]
    try:
        for call in calls:
            call.initial_metadata()  # the stream is open on the server (its consumer is positioned)
        extra = stub.WatchIncidents(ipb.WatchIncidentsRequest(), metadata=me, timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(extra))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
        assert "4" in (refused.value.details() or "")  # type: ignore[attr-defined]
        other = stub.WatchIncidents(ipb.WatchIncidentsRequest(), metadata=host.md("operator"), timeout=30)
        other.initial_metadata()  # another principal is not affected
        other.cancel()
        calls.pop().cancel()
        for _ in range(100):  # the server frees the slot once it sees the cancel
            again = stub.WatchIncidents(ipb.WatchIncidentsRequest(), metadata=me, timeout=30)
            try:
                again.initial_metadata()
                code = again.code() if again.done() else grpc.StatusCode.OK
            finally:
                again.cancel()
            if code == grpc.StatusCode.OK:
                break
            time.sleep(0.1)
        assert code == grpc.StatusCode.OK
    finally:
        for call in calls:
            call.cancel()


@pytest.fixture(scope="module")
def incidents_worker(host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The real incidents Faust worker on the apis' broker, topics and database: it learns which
    units are assigned from cityops.dispatch.events.v1 (published by the real dispatch api)."""
    run_dir = tmp_path_factory.mktemp("incidents-worker")
    s = host.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_KAFKA_BOOTSTRAP=s.kafka_bootstrap, CITYOPS_TOPIC_PREFIX=s.topic_prefix,
               CITYOPS_DATABASE_URL=s.database_url, CITYOPS_JWT_SECRET=s.jwt_secret,
               CITYOPS_DATA_DIR=str(run_dir / "data"), CITYOPS_METRICS_PORT=str(free_port()),
               CITYOPS_LOG_LEVEL="INFO")
    log_file = run_dir / "worker.log"
    proc = spawn(cli_argv("worker", "incidents"), log_file=log_file, env=env)
    try:
        yield
    finally:
        terminate(proc, signal.SIGTERM, 20.0)


def _note_code(host, incident_id: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    return _code(host.apis["incidents"].stub.AddNote,
                 ipb.AddNoteRequest(id=incident_id, text="Hiện trường: 2 người bị thương nhẹ"), metadata=metadata)


def _until(predicate, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    # A generous budget for the worker's start and lag under a loaded machine; not a latency claim.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not seen within {timeout:.0f} s: {what}")
        time.sleep(0.3)


def test_a_field_unit_notes_only_incidents_its_unit_is_assigned_to(host, incidents_worker) -> None:  # type: ignore[no-untyped-def]
    incidents, dispatch = host.apis["incidents"].stub, host.apis["dispatch"].stub
    mine, other = f"fu-n-{uuid.uuid4().hex[:6]}", f"fu-o-{uuid.uuid4().hex[:6]}"
    for unit_id, lat in ((mine, 10.983), (other, 10.984)):
        dispatch.RegisterUnit(dpb.RegisterUnitRequest(unit=_unit(unit_id, lat)), metadata=host.md("admin"))
    lat, lon = _spot()
    reported = incidents.ReportIncident(
        _report(lat, lon, key=f"note-{uuid.uuid4().hex}", source=ipb.SOURCE_HOTLINE_1022,
                description="Tai nạn giao thông, hai xe máy va chạm"),
        metadata=host.md("call_taker"),
    ).incident
    host.run(_known_incident(host.settings.database_url, reported))  # dispatch's view (its worker is not running)
    me, them = host.md("field_unit", unit_id=mine), host.md("field_unit", unit_id=other)
    assert _note_code(host, reported.id, me) == grpc.StatusCode.PERMISSION_DENIED  # nobody assigned yet

    assignment = dispatch.AssignUnit(dpb.AssignUnitRequest(incident_id=reported.id, unit_id=mine, reason="gần nhất"),
                                     metadata=host.md("dispatcher"))
    # dispatch api → outbox → Kafka → incidents worker → unit_assignments: then my note is taken.
    _until(lambda: _note_code(host, reported.id, me) == grpc.StatusCode.OK, "the assigned unit's note accepted")
    assert _note_code(host, reported.id, them) == grpc.StatusCode.PERMISSION_DENIED  # another unit's incident
    assert _note_code(host, reported.id, host.md("field_unit")) == grpc.StatusCode.PERMISSION_DENIED  # unbound
    assert _note_code(host, reported.id, host.md("dispatcher")) == grpc.StatusCode.OK  # staff: any incident
    timeline = incidents.GetTimeline(ipb.GetTimelineRequest(id=reported.id), metadata=host.md("supervisor"))
    notes = [e for e in timeline.entries if e.action == "NoteAdded"]
    assert [e.actor.role for e in notes] == ["field_unit", "dispatcher"]  # the refused ones wrote nothing

    # Once the assignment is cancelled the unit is no longer on the incident.
    dispatch.CancelAssignment(dpb.CancelAssignmentRequest(assignment_id=assignment.id, reason="nhầm xe"),
                              metadata=host.md("dispatcher"))
    _until(lambda: _note_code(host, reported.id, me) == grpc.StatusCode.PERMISSION_DENIED,
           "the cancelled unit's note refused")
