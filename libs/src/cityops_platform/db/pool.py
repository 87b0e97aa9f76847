"""The asyncpg pool. Each service works in its own schema (search_path), never another's."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import asyncpg

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


_release_hooks: list[Callable[[Any], None]] = []


def on_release(hook: Callable[[Any], None]) -> None:
    """Call ``hook(connection)`` whenever a pool connection is given back, after its transaction
    ended (the outbox wakes its relays there: the rows it enqueued are committed by then)."""
    if hook not in _release_hooks:
        _release_hooks.append(hook)


def check_schema(schema: str) -> str:
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"invalid schema name: {schema!r}")
    return schema


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset on release: nothing beyond what asyncpg always does (roll back an open
    transaction, drop listener callbacks).

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``:
    one more round trip for every acquire, a large share of the statements a service runs under
    load. CityOps code keeps no session state on pool connections: advisory locks are
    transaction-scoped (``pg_advisory_xact_lock``), cursors live inside transactions, settings are
    ``SET LOCAL`` or the pool's ``server_settings``, and no CityOps code LISTENs on a pool connection.

    The ``on_release`` hooks run here (plain callbacks, no round trip).
    """
    for hook in _release_hooks:
        hook(conn)


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections use ``schema`` first, with JSON codecs and UTC time."""
    check_schema(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": f"{schema},public", "timezone": "UTC",
                         "application_name": f"cityops-{schema}"},
        command_timeout=30,
    )
    assert pool is not None
    return pool
