"""Idempotency keys of AssignUnit (migration 172): the console's offline outbox makes a key when the
dispatcher takes the action and may send the request again when an answer was lost.

Inside the assignment's transaction the key is **claimed first** (``claim``): the insert of a key
another transaction is claiming waits for that one to commit or roll back, so of two replays racing
exactly one assigns and the other answers with its assignment. A request that fails rolls its claim
back with it, so a retry after an error is a new attempt. Keys are scoped to the caller's subject
(``cityops_platform.db.request_keys.scoped_key``) and removed after the retention by the worker's
sweeper (``cityops_platform.db.request_keys.expire``)."""

from __future__ import annotations

import asyncpg

from cityops_platform.db.request_keys import key_reused

METHOD = "AssignUnit"


async def claim(conn: asyncpg.Connection, key: str) -> str | None:
    """Claim ``key`` for this transaction. None when it is ours now (go on and assign); else the id of
    the assignment the earlier request made (the replay's answer)."""
    if await conn.fetchval(
        "INSERT INTO request_keys (key, method) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING key",
        key, METHOD,
    ) is not None:
        return None
    row = await conn.fetchrow("SELECT method, assignment_id FROM request_keys WHERE key = $1", key)
    if row is None or row["method"] != METHOD or row["assignment_id"] is None:
        raise key_reused()
    return str(row["assignment_id"])


async def remember(conn: asyncpg.Connection, key: str, assignment_id: str) -> None:
    """The assignment the claimed ``key`` made (same transaction as the claim)."""
    await conn.execute("UPDATE request_keys SET assignment_id = $2 WHERE key = $1", key, assignment_id)
