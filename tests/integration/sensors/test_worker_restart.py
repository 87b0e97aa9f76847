"""A restarted worker resumes from its changelog-backed table: no duplicate alert, and it clears."""

from __future__ import annotations

import pytest

from cityops.sensors.v1 import sensors_pb2 as pb

pytestmark = pytest.mark.integration


async def _threshold_only(client, sid: str) -> None:  # type: ignore[no-untyped-def]
    await client.register(sid)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_THRESHOLD, warn_level=20, critical_level=40,
                      hysteresis=5, min_duration_seconds=0)
    await client.rule(sensor_id=sid, rule_type=pb.RULE_TYPE_RATE_OF_CHANGE, rate_of_change_per_window=900,
                      rate_window_seconds=600)


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_restarted_worker_keeps_alert_state_and_raises_no_duplicate(client, sensor_stack, crash: bool) -> None:
    sid = client.uid("wl-restart")
    await _threshold_only(client, sid)
    start = client.base_ms
    await client.ingest(sid, [5, 25, 26], start_ms=start)
    first = await client.alerts(sid, expect=1, settle=1.0)
    assert [a.state for a in first] == [pb.ALERT_STATE_RAISED]

    sensor_stack.stop_worker(crash=crash)
    sensor_stack.start_worker()

    # Still above the level: the recovered state knows the alert is open, so nothing new is raised.
    await client.ingest(sid, [27, 28, 24], start_ms=start + 10_000)
    # Then it recedes past the hysteresis band: the SAME alert clears.
    await client.ingest(sid, [10], start_ms=start + 20_000)
    alerts = await client.alerts(sid, expect=2, settle=3.0, wait_s=60)
    distinct = {(a.event_id, a.state) for a in alerts}  # a replay may repeat an event id, never invent one
    assert sorted(s for _, s in distinct) == [pb.ALERT_STATE_RAISED, pb.ALERT_STATE_CLEARED]
    assert {a.alert_id for a in alerts} == {first[0].alert_id}
