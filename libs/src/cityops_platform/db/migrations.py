"""Numbered SQL migrations per service schema (``001_init.sql``, ``002_…``), applied once each.

An advisory lock serialises concurrent migrators (several pods starting at once); each file runs in
its own transaction with ``search_path`` set to the service's schema. The runtime's own tables
(outbox, processed events) are created first in every schema.
"""

from __future__ import annotations

import logging
import re
import zlib
from pathlib import Path

import asyncpg

from cityops_platform.db.pool import check_schema

log = logging.getLogger(__name__)
_FILE_RE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")

RUNTIME_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS processed_events (
    consumer text NOT NULL,
    event_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""


def migration_files(directory: Path) -> list[tuple[int, str, Path]]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise ValueError(f"migration file name must be NNN_name.sql: {path.name}")
        files.append((int(match.group(1)), path.stem, path))
    versions = [v for v, _, _ in files]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return files


async def migrate(dsn: str, schema: str, directory: Path | None) -> list[str]:
    """Apply pending migrations of ``schema``; returns the names applied now."""
    check_schema(schema)
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", zlib.crc32(schema.encode()))
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(f"SET search_path TO {schema}, public")
            await conn.execute(RUNTIME_SQL)
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, path in migration_files(directory) if directory else []:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                    )
                applied.append(name)
                log.info("migration applied", extra={"schema": schema, "migration": name})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", zlib.crc32(schema.encode()))
    finally:
        await conn.close()
    return applied
