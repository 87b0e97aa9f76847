"""A worker killed mid-stream and restarted neither loses nor duplicates an assignment."""

from __future__ import annotations

import asyncio
import signal

import pytest

from cityops.dispatch.v1 import dispatch_pb2
from cityops_devtools.testing import eventually

from .conftest import Api, DispatchEnv, WorkerProcess, make_incident

pytestmark = pytest.mark.integration
A = dispatch_pb2
API_SETTINGS = {"ack_timeout_seconds": 600}
ENV = {"CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "600"}
INCIDENTS = 40


@pytest.mark.timeout(300)
async def test_killed_worker_restarts_without_losing_or_duplicating_assignments(
    api: Api, dispatch_env: DispatchEnv
) -> None:
    for i in range(INCIDENTS + 5):
        await api.register(f"als-{i:02d}", ["ALS"], 10.90 + 0.01 * (i % 7), 106.60 + 0.01 * (i // 7))
    incidents = [make_incident(lat=10.90 + 0.005 * (i % 10), lon=106.60 + 0.01 * (i // 10)) for i in range(INCIDENTS)]
    for incident in incidents:
        await api.publish(incident)

    first = WorkerProcess(dispatch_env, ENV)
    first.start()
    try:
        count = "SELECT count(*) FROM assignments"
        await eventually(lambda: api.pool.fetchval(f"{count} WHERE status = 1"), timeout=120, interval=0.05)
        first.stop(signal.SIGKILL)  # no drain, no offset commit: a crash
        partial = await api.pool.fetchval(count)
        # Some incidents redelivered after the crash were already handled; the rest are new.
        second = WorkerProcess(dispatch_env, ENV)
        second.start()
        try:
            async def all_assigned() -> bool:
                return int(await api.pool.fetchval(count)) >= INCIDENTS

            await eventually(all_assigned, timeout=150, interval=0.5)
            # Let the restarted worker finish any redelivered events (which must change nothing).
            await asyncio.sleep(3)
            assert second.alive(), second.tail()
        finally:
            second.stop()
    finally:
        first.stop()

    rows = await api.pool.fetch("SELECT incident_id, unit_id, status FROM assignments")
    assert len(rows) == INCIDENTS, f"{len(rows)} assignments (partial before restart: {partial})"
    assert {r["incident_id"] for r in rows} == {i.id for i in incidents}
    assert len({r["unit_id"] for r in rows}) == INCIDENTS
    assert all(r["status"] == A.ASSIGNMENT_STATUS_ASSIGNED for r in rows)
    for incident in incidents[:3] + incidents[-3:]:
        events = await api.events(incident.id, until=lambda es: any(e.HasField("unit_assigned") for e in es))
        assert len({e.event_id for e in events if e.HasField("unit_assigned")}) == 1
