"""Readings through the real api → Kafka → Faust worker → alerts topic and Postgres."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import grpc
import pytest

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_devtools.testing import eventually

pytestmark = pytest.mark.integration


async def test_water_level_crossing_raises_exactly_one_alert_and_clears_past_hysteresis(client) -> None:
    sid = client.uid("wl")
    await client.register(sid)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_THRESHOLD, direction=pb.DIRECTION_ABOVE,
                      warn_level=20, critical_level=40, hysteresis=5, min_duration_seconds=0)
    summary = await client.ingest(sid, [5, 10, 21, 24, 30, 22, 17, 16, 14, 8])
    assert (summary.accepted, summary.rejected) == (10, 0)
    # The kind's default rate-of-change rule (+20 cm in 10 min) fires too; this test is about levels.
    alerts = [a for a in await client.alerts(sid, expect=2) if a.rule_type == pb.RULE_TYPE_THRESHOLD]
    assert [(a.state, a.level, a.value) for a in alerts] == [
        (pb.ALERT_STATE_RAISED, pb.ALERT_LEVEL_WARN, 21), (pb.ALERT_STATE_CLEARED, pb.ALERT_LEVEL_WARN, 14)]
    assert alerts[0].alert_id == alerts[1].alert_id and alerts[0].event_id != alerts[1].event_id
    assert alerts[0].unit == "cm" and alerts[0].threshold == 20
    # the alert carries the ward of the sensor's location (10.905, 106.705: Lái Thiêu of the former
    # Thuận An); the deprecated district shows the ward's name, not the name the sensor was filed under
    assert (alerts[0].ward_code, alerts[0].ward_name) == ("25966", "Phường Lái Thiêu")
    assert alerts[0].district == "Phường Lái Thiêu"
    assert alerts[1].HasField("cleared_at")


async def test_flapping_signal_raises_one_alert(client) -> None:
    sid = client.uid("wl")
    await client.register(sid)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_THRESHOLD, warn_level=20, hysteresis=5,
                      min_duration_seconds=10)
    await client.ingest(sid, [19, 21, 19.5, 20.5, 18, 22, 19, 21] * 6)
    alerts = await client.alerts(sid, expect=1)
    assert [a.state for a in alerts] == [pb.ALERT_STATE_RAISED]


async def test_water_rising_faster_than_the_rate_limit_raises_a_rate_of_change_alert(client) -> None:
    sid = client.uid("wl")
    await client.register(sid)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_RATE_OF_CHANGE, direction=pb.DIRECTION_ABOVE,
                      rate_of_change_per_window=20, rate_window_seconds=600, level=pb.ALERT_LEVEL_WARN)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_THRESHOLD, warn_level=900)  # keep levels quiet
    await client.ingest(sid, [2 + i * 1.5 for i in range(20)], step_ms=30_000)  # +30 cm in 10 min
    alerts = [a for a in await client.alerts(sid, expect=1) if a.rule_type == pb.RULE_TYPE_RATE_OF_CHANGE]
    assert [a.state for a in alerts] == [pb.ALERT_STATE_RAISED]
    assert alerts[0].value >= 22


async def test_silent_sensor_is_reported_offline_and_back_online(client) -> None:
    sid = client.uid("rain")
    await client.register(sid, kind=pb.SENSOR_KIND_RAINFALL, interval=1, district="Dĩ An")
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_OFFLINE, offline_after_intervals=2)
    now = int(time.time() * 1000)
    await client.ingest(sid, [3.0], start_ms=now)
    alerts = await client.alerts(sid, expect=1, settle=0)
    assert [(a.state, a.rule_type) for a in alerts] == [(pb.ALERT_STATE_RAISED, pb.RULE_TYPE_OFFLINE)]
    assert alerts[0].raised_at.ToMilliseconds() - now >= 2000

    async def offline() -> bool:
        sensor = await client.stub.GetSensor(pb.GetSensorRequest(id=sid), metadata=client.admin)
        return sensor.status == pb.SENSOR_STATUS_OFFLINE

    await eventually(offline, timeout=10)
    await client.ingest(sid, [4.0], start_ms=int(time.time() * 1000))
    alerts = await client.alerts(sid, expect=2, settle=0)
    assert [a.state for a in alerts][:2] == [pb.ALERT_STATE_RAISED, pb.ALERT_STATE_CLEARED]


async def test_one_minute_aggregates_are_written_to_postgres_and_served_as_a_series(client, sensor_stack) -> None:
    sid = client.uid("pm")
    await client.register(sid, kind=pb.SENSOR_KIND_AIR_QUALITY_PM25)
    start = client.base_ms
    await client.ingest(sid, [10, 20, 30, 40], start_ms=start, step_ms=10_000)  # minute 0
    await client.ingest(sid, [50, 70], start_ms=start + 60_000, step_ms=10_000)  # minute 1 (closes minute 0)

    async def rows() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(sensor_stack.settings.database_url)
        try:
            return list(await conn.fetch(
                "SELECT * FROM sensors.aggregates WHERE sensor_id = $1 ORDER BY window_start", sid))
        finally:
            await conn.close()

    found = await eventually(rows, timeout=20)
    assert (found[0]["count"], found[0]["min"], found[0]["max"], found[0]["mean"]) == (4, 10, 40, 25)
    # The open minute closes on the worker's tick once its end has passed.
    found = await eventually(lambda: _two(rows), timeout=20)
    assert (found[1]["count"], found[1]["mean"]) == (2, 60)
    series = await client.stub.GetSeries(
        pb.GetSeriesRequest(sensor_id=sid, start={"seconds": start // 1000 - 60}, end={"seconds": start // 1000 + 600}),
        metadata=client.admin)
    assert [(p.count, p.mean) for p in series.points] == [(4, 25), (2, 60)]


async def _two(rows):  # type: ignore[no-untyped-def]
    found = await rows()
    return found if len(found) >= 2 else None


async def test_bad_readings_are_rejected_with_reasons_and_good_ones_accepted(client) -> None:
    sid = client.uid("wl")
    await client.register(sid)
    now = int(time.time() * 1000)
    batch = pb.ReadingBatch(
        readings=[pb.Reading(sensor_id=sid, value=12, observed_at={"seconds": now // 1000}),
                  pb.Reading(sensor_id="khong-ton-tai", value=1, observed_at={"seconds": now // 1000}),
                  pb.Reading(sensor_id=sid, value=5000, observed_at={"seconds": now // 1000}),
                  pb.Reading(sensor_id=sid, value=float("nan"), observed_at={"seconds": now // 1000}),
                  pb.Reading(sensor_id=sid, value=1, observed_at={"seconds": now // 1000 + 3600}),
                  pb.Reading(sensor_id=sid, value=1, observed_at={"seconds": now // 1000 - 3 * 86400}),
                  pb.Reading(sensor_id=sid, value=1)],
        columns=pb.ReadingColumns(sensor_ids=[sid, sid], values=[13.0], observed_at_ms=[now, now]),
    )

    async def batches():  # type: ignore[no-untyped-def]
        yield batch
        yield pb.ReadingBatch(columns=pb.ReadingColumns(sensor_ids=[sid], values=[float("inf")], observed_at_ms=[now]))

    summary = await client.stub.IngestReadings(batches(), metadata=client.gateway, timeout=30)
    assert (summary.accepted, summary.rejected, summary.batches) == (2, 8, 2)
    assert sorted((r.index, r.reason, r.batch_index) for r in summary.rejections) == [
        (1, pb.REJECTION_REASON_UNKNOWN_SENSOR, 0), (2, pb.REJECTION_REASON_OUT_OF_RANGE, 0),
        (3, pb.REJECTION_REASON_NOT_A_NUMBER, 0), (4, pb.REJECTION_REASON_TIMESTAMP_IN_FUTURE, 0),
        (5, pb.REJECTION_REASON_TIMESTAMP_TOO_OLD, 0), (6, pb.REJECTION_REASON_MISSING_TIMESTAMP, 0),
        (8, pb.REJECTION_REASON_MALFORMED, 0), (9, pb.REJECTION_REASON_NOT_A_NUMBER, 1)]
    assert all(r.detail for r in summary.rejections)


async def test_register_validates_every_field_and_lists_by_status(client) -> None:
    from cityops_devtools.testing import status_details

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.stub.RegisterSensor(pb.RegisterSensorRequest(sensor=pb.Sensor(id="bad id!", kind=99)),
                                         metadata=client.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in status_details(err.value)} >= {"sensor.kind"}
    sid = client.uid("noise")
    again = [await client.register(sid, kind=pb.SENSOR_KIND_NOISE) for _ in range(2)][-1]
    assert (again.unit, again.status) == ("dB(A)", pb.SENSOR_STATUS_OFFLINE)
    listed = await client.stub.ListSensors(pb.ListSensorsRequest(kinds=[pb.SENSOR_KIND_NOISE]), metadata=client.admin)
    assert sid in [s.id for s in listed.sensors]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.stub.GetSensor(pb.GetSensorRequest(id="khong-co"), metadata=client.admin)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_alerts_streams_new_alerts_live(client) -> None:
    sid = client.uid("smoke")
    await client.register(sid, kind=pb.SENSOR_KIND_SMOKE, district="Bến Cát")
    call = client.stub.WatchAlerts(pb.WatchAlertsRequest(sensor_id=sid), metadata=client.admin)
    await call.initial_metadata()  # subscribed: nothing after this is missed
    await client.ingest(sid, [0, 1], start_ms=int(time.time() * 1000) - 2000)  # default rule: smoke = critical
    alert = await asyncio.wait_for(call.read(), timeout=30)
    call.cancel()
    assert (alert.sensor_id, alert.state, alert.level) == (sid, pb.ALERT_STATE_RAISED, pb.ALERT_LEVEL_CRITICAL)
    listed = await client.stub.ListSensorAlerts(pb.ListSensorAlertsRequest(active_only=True, sensor_id=sid),
                                                metadata=client.admin)
    assert [a.alert_id for a in listed.alerts] in ([], [alert.alert_id])  # history is written behind


async def test_sensors_get_their_ward_and_list_and_watch_by_ward(client) -> None:
    from cityops.common.v1 import common_pb2
    from cityops_devtools.testing import status_details

    # registered first, so the worker's registry (refreshed every 0.5 s here) knows them by the watch
    smoke_here, smoke_there = client.uid("smoke"), client.uid("smoke")
    await client.register(smoke_here, kind=pb.SENSOR_KIND_SMOKE)  # Lái Thiêu
    await client.stub.RegisterSensor(pb.RegisterSensorRequest(sensor=pb.Sensor(
        id=smoke_there, kind=pb.SENSOR_KIND_SMOKE, reporting_interval_seconds=60,
        location=common_pb2.GeoPoint(lat=10.9034, lon=106.759))), metadata=client.admin, timeout=10)
    sid = client.uid("noise")
    # registered without the deprecated district: the ward comes from the location
    sensor = await client.stub.RegisterSensor(pb.RegisterSensorRequest(sensor=pb.Sensor(
        id=sid, kind=pb.SENSOR_KIND_NOISE, reporting_interval_seconds=60, name="Tiếng ồn ngã tư 550",
        location=common_pb2.GeoPoint(lat=10.9034, lon=106.759, address="Ngã tư 550, Dĩ An"))),
        metadata=client.admin, timeout=10)
    assert (sensor.ward_code, sensor.ward_name, sensor.district) == ("25942", "Phường Dĩ An", "Phường Dĩ An")
    lai_thieu = client.uid("noise")
    await client.register(lai_thieu, kind=pb.SENSOR_KIND_NOISE)  # at Lái Thiêu

    async def listed(**kw: object) -> set[str]:
        reply = await client.stub.ListSensors(pb.ListSensorsRequest(kinds=[pb.SENSOR_KIND_NOISE], page_size=1000,
                                                                    **kw), metadata=client.admin)
        return {s.id for s in reply.sensors} & {sid, lai_thieu}

    assert await listed(ward_codes=["25942"]) == {sid}
    assert await listed(ward_codes=["25966", "25942"]) == {sid, lai_thieu}
    assert await listed(district="Thuận An") == {lai_thieu}  # a former district: the units it became
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.stub.ListSensors(pb.ListSensorsRequest(ward_codes=["00000"]), metadata=client.admin)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ward_codes[0]" in dict(status_details(err.value))

    await asyncio.sleep(1.0)  # at least two registry refreshes of the worker since
    call = client.stub.WatchAlerts(pb.WatchAlertsRequest(ward_codes=["25966"]), metadata=client.admin)
    await call.initial_metadata()
    now_ms = int(time.time() * 1000) - 2000
    await client.ingest(smoke_there, [0, 1], start_ms=now_ms)  # Dĩ An first: must not reach this watch
    await client.ingest(smoke_here, [0, 1], start_ms=now_ms)
    seen = []
    while True:
        alert = await asyncio.wait_for(call.read(), timeout=30)
        seen.append(alert.sensor_id)
        if alert.sensor_id == smoke_here:
            break
    call.cancel()
    assert smoke_there not in seen and all(s for s in seen)
    assert alert.ward_code == "25966"
