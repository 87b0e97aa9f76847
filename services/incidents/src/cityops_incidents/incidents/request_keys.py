"""Idempotency keys of the incident changes that are not reports (TransitionIncident, AddNote).

A caller (the console's offline outbox) sends a key it made when the action was taken and may send
the same request again when an answer was lost. Inside the change's transaction, after the incident
row is locked (so replays of one request queue behind each other), ``seen`` tells whether the key
was applied already; ``remember`` records it with the change. Keys are scoped to the caller's
subject like report keys (cityops_platform.db.request_keys.scoped_key): another caller's key is another request.

Keys are kept ``CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS`` (7 by default) and then removed by
the worker (``cityops_platform.db.request_keys.expire``, agents.py): a replay after that is a new
request (docs/incidents.md)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops_platform.db.request_keys import key_reused


async def seen(conn: asyncpg.Connection, key: str, *, method: str, incident_id: str) -> bool:
    """True when ``key`` was applied already (to this method and incident). A key used for another
    request is FAILED_PRECONDITION, never applied to this one."""
    row = await conn.fetchrow("SELECT method, incident_id FROM request_keys WHERE key = $1", key)
    if row is None:
        return False
    if row["method"] != method or str(row["incident_id"]) != incident_id:
        raise key_reused()
    return True


async def remember(conn: asyncpg.Connection, key: str, *, method: str, incident_id: str, version: int,
                   at: datetime) -> None:
    await conn.execute(
        "INSERT INTO request_keys (key, method, incident_id, version, created_at) VALUES ($1, $2, $3, $4, $5)",
        key, method, incident_id, version, at,
    )
