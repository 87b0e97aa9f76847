"""CAP alerts in Postgres."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops_notifications.alerts.models import CapAlert, CapInfo
from cityops_platform.db.rows import from_row

_COLUMNS = (
    'id, identifier, sender, status, msg_type, scope, restriction, addresses, "references", state, author, '
    "approver, infos, note, incident_id, supersedes_id, sent_at, xml, created_at, updated_at"
)


def _alert(r: asyncpg.Record) -> CapAlert:
    return from_row(
        CapAlert, r, id=str(r["id"]), references=tuple(r["references"]),
        infos=tuple(CapInfo.from_json(i) for i in r["infos"]),
        supersedes_id=str(r["supersedes_id"]) if r["supersedes_id"] else "",
    )


async def insert(conn: asyncpg.Connection | asyncpg.Pool, alert: CapAlert) -> CapAlert:
    row = await conn.fetchrow(
        f"INSERT INTO cap_alerts (id, identifier, sender, status, msg_type, scope, restriction, addresses, "
        f'"references", state, author, infos, note, incident_id, supersedes_id) '
        f"VALUES ($1::uuid,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15::uuid) RETURNING {_COLUMNS}",
        alert.id, alert.identifier, alert.sender, alert.status, alert.msg_type, alert.scope, alert.restriction,
        alert.addresses, list(alert.references), alert.state, alert.author, [i.to_json() for i in alert.infos],
        alert.note, alert.incident_id, alert.supersedes_id or None,
    )
    return _alert(row)


async def get(conn: asyncpg.Connection | asyncpg.Pool, alert_id: str, *, lock: bool = False) -> CapAlert | None:
    sql = f"SELECT {_COLUMNS} FROM cap_alerts WHERE id = $1::uuid" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, alert_id)
    return _alert(row) if row else None


async def set_state(conn: asyncpg.Connection, alert_id: str, state: str) -> None:
    await conn.execute("UPDATE cap_alerts SET state = $2, updated_at = now() WHERE id = $1::uuid", alert_id, state)


async def publish(conn: asyncpg.Connection, alert_id: str, *, approver: str, sent_at: datetime, xml: str) -> CapAlert:
    row = await conn.fetchrow(
        f"UPDATE cap_alerts SET state = 'PUBLISHED', approver = $2, sent_at = $3, xml = $4, updated_at = now() "
        f"WHERE id = $1::uuid RETURNING {_COLUMNS}",
        alert_id, approver, sent_at, xml,
    )
    return _alert(row)


async def replace_infos(conn: asyncpg.Connection, alert_id: str, *, infos: list[dict[str, object]], note: str,
                        author: str) -> CapAlert:
    row = await conn.fetchrow(
        f"UPDATE cap_alerts SET infos = $2, note = $3, author = $4, updated_at = now() WHERE id = $1::uuid "
        f"RETURNING {_COLUMNS}",
        alert_id, infos, note, author,
    )
    return _alert(row)


async def list_alerts(pool: asyncpg.Pool, *, states: list[str], limit: int, offset: int) -> list[CapAlert]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM cap_alerts WHERE (cardinality($1::text[]) = 0 OR state = ANY($1::text[])) "
        f"ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        states, limit, offset,
    )
    return [_alert(r) for r in rows]
