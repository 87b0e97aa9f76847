from __future__ import annotations
import time, uuid, cProfile, pstats, io
import pytest
from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch import db
from cityops_dispatch.assignments.service import Dispatcher
from cityops_dispatch.config import default_rules
from cityops_dispatch.incidents_view.service import apply_event
from cityops_platform.db.idempotency import first_time
from .conftest import Api, make_incident
pytestmark = pytest.mark.integration

@pytest.mark.timeout(300)
async def test_prof(api: Api) -> None:
    for i in range(260):
        await api.register(f"als-{i}", ["ALS"], 10.85 + 0.01 * (i % 26), 106.55 + 0.02 * (i // 26))
    d = Dispatcher(rules=default_rules(), ack_timeout_s=600, max_radius_m=150000)
    incs = [make_incident(lat=10.9 + 0.001 * (i % 50), lon=106.6 + 0.01 * (i // 50)) for i in range(100)]
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    for inc in incs:
        ev = incidents_pb2.IncidentEvent(event_id=str(uuid.uuid4()), incident_id=inc.id, incident=inc)
        async def work(conn):
            await first_time(conn, "x", ev.event_id)
            v = await apply_event(conn, ev)
            await d.on_incident(conn, v)
        await db.in_transaction(api.pool, work)
    pr.disable()
    print("per incident ms", (time.perf_counter() - t0) * 10)
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("cumulative").print_stats(25); print(s.getvalue()[:5000])
