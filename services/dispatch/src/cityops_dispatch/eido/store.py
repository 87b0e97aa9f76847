"""Postgres access for EIDO imports: which incident an EIDO ``$id`` became, which CAD created it,
which of its notes were passed on (migrations of ``eido_imports`` and ``eido_import_notes``)."""

from __future__ import annotations

import asyncpg


async def find_import(conn: asyncpg.Connection, eido_id: str) -> tuple[str, str] | None:
    """(incident id, incident number) of the incident an earlier import of ``eido_id`` made."""
    row = await conn.fetchrow("SELECT incident_id, incident_number FROM eido_imports WHERE eido_id = $1", eido_id)
    return (row["incident_id"], row["incident_number"]) if row else None


async def record_import(
    conn: asyncpg.Connection, *, eido_id: str, incident_id: str, incident_number: str, cad: str
) -> bool:
    """Remember that ``eido_id`` became this incident, created by ``cad`` ("" = not its creator);
    False when an import of the same ``$id`` was recorded first."""
    inserted = await conn.fetchval(
        """INSERT INTO eido_imports (eido_id, incident_id, incident_number, cad) VALUES ($1, $2, $3, $4)
           ON CONFLICT (eido_id) DO NOTHING RETURNING true""",
        eido_id, incident_id, incident_number, cad,
    )
    return bool(inserted)


async def creator(conn: asyncpg.Connection, incident_id: str) -> str | None:
    """The CAD whose import created the incident; None when no import did."""
    value = await conn.fetchval(
        "SELECT cad FROM eido_imports WHERE incident_id = $1 ORDER BY created_at LIMIT 1", incident_id
    )
    return str(value) if value is not None else None


async def mark_note(conn: asyncpg.Connection, *, eido_id: str, note_hash: str) -> bool:
    """Mark a note of ``eido_id`` as passed on; False when it already was."""
    fresh = await conn.fetchval(
        """INSERT INTO eido_import_notes (eido_id, note_hash) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        eido_id, note_hash,
    )
    return bool(fresh)
