"""Dispatch's incident view fed a batch of snapshots: one statement, newest version wins, replays do nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.incidents_view import store
from cityops_platform.db.pool import create_pool

from .conftest import DispatchEnv, make_incident

pytestmark = pytest.mark.integration
P3 = incidents_pb2.Priority.PRIORITY_P3


async def test_a_batch_of_snapshots_costs_one_statement_and_keeps_the_newest_version(
    dispatch_env: DispatchEnv,
) -> None:
    pool = await create_pool(dispatch_env.database_url, "dispatch", min_size=1, max_size=1)
    a_id, b_id = "batch-incident-a", "batch-incident-b"
    a1, a2, a3 = (make_incident(priority=P3, incident_id=a_id, version=v) for v in (1, 2, 3))
    b1, b2 = (make_incident(priority=P3, incident_id=b_id, version=v) for v in (1, 2))
    queries: list[str] = []

    def logged(query: Any) -> None:
        queries.append(query.query)

    try:
        async with pool.acquire() as conn:
            # Out of order inside the batch: the newest version of each incident is what is stored.
            new = await store.upsert_many_first_time(
                conn, [("ev-a1", a1), ("ev-b1", b1), ("ev-a3", a3), ("ev-a2", a2), ("ev-a1", a1)], consumer="view")
            assert new == 4, "a repeated event id in one batch counts once"
            versions = dict(await conn.fetch("SELECT id, version FROM incidents_view WHERE id = ANY($1::text[])",
                                             [a_id, b_id]))
            assert versions == {a_id: 3, b_id: 1}

            # Redelivered after a crash, together with one new event: only the new one does anything.
            # (Counted from the second call: the first also ran asyncpg's one-time type introspection.)
            conn.add_query_logger(logged)
            new = await store.upsert_many_first_time(conn, [("ev-a1", a1), ("ev-a3", a3), ("ev-b2", b2)],
                                                     consumer="view")
            await asyncio.sleep(0.05)  # asyncpg calls query loggers with call_soon
            conn.remove_query_logger(logged)
            assert new == 1
            assert len(queries) == 1, queries
            # A new event carrying an older snapshot is marked seen but does not overwrite the view.
            assert await store.upsert_many_first_time(conn, [("ev-a2-late", a2)], consumer="view") == 1
            versions = dict(await conn.fetch("SELECT id, version FROM incidents_view WHERE id = ANY($1::text[])",
                                             [a_id, b_id]))
            assert versions == {a_id: 3, b_id: 2}
            stored = await store.get(conn, a_id)
            assert stored is not None and stored.snapshot.version == 3 and stored.priority == int(P3)
            marks = await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = 'view'")
            assert marks == 6
    finally:
        await pool.close()
