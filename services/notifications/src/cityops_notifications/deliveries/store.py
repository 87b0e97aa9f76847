"""Deliveries, notices and rate buckets in Postgres.

Claiming uses ``FOR UPDATE SKIP LOCKED`` plus a lease (``claimed_until``), so several senders share
the queue and no transaction stays open while a message is on the wire; a sender that dies mid-send
loses its lease and the job is picked up again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from cityops_notifications.deliveries.models import PENDING, Delivery, Job
from cityops_notifications.notices.models import Notice
from cityops_notifications.subscriptions.models import Subscription
from cityops_notifications.subscriptions.rules import mask_address
from cityops_platform.db import outbox
from cityops_platform.db.outbox import OutboxRecord
from cityops_platform.db.rows import from_row

_D_COLUMNS = (
    "d.id, d.subscription_id, d.event_id, d.event_type, d.source_topic, d.channel, d.language, d.status, "
    "d.attempts, d.max_attempts, d.last_error, d.next_attempt_at, d.sent_at, d.parts, d.created_at, d.updated_at"
)
_SELECT = f"SELECT {_D_COLUMNS}, s.address FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"


_JOB_COLUMNS = "s.address, s.secret_encrypted, s.owner_role, d.rate_checked, n.payload FROM"


def _delivery(r: asyncpg.Record) -> Delivery:
    return from_row(
        Delivery, r, id=str(r["id"]), subscription_id=str(r["subscription_id"]),
        address_masked=mask_address(r["channel"], r["address"]),
    )


async def save_notice(conn: asyncpg.Connection, notice: Notice) -> None:
    await conn.execute(
        "INSERT INTO notices (event_id, event_type, source_topic, occurred_at, payload) VALUES ($1,$2,$3,$4,$5) "
        "ON CONFLICT (event_id) DO NOTHING",
        notice.event_id, notice.event_type, notice.source_topic, notice.occurred_at, notice.to_json(),
    )


async def create(conn: asyncpg.Connection, *, sub: Subscription, notice: Notice, max_attempts: int) -> Delivery | None:
    """A new PENDING delivery, or None when this (event, subscription) already has one."""
    row = await conn.fetchrow(
        "INSERT INTO deliveries AS d (id, subscription_id, event_id, event_type, source_topic, channel, language, "
        "status, max_attempts) VALUES ($1::uuid,$2::uuid,$3,$4,$5,$6,$7,$8,$9) "
        f"ON CONFLICT ON CONSTRAINT deliveries_once DO NOTHING RETURNING {_D_COLUMNS}, $10::text AS address",
        str(uuid.uuid4()), sub.id, notice.event_id, notice.event_type, notice.source_topic, sub.channel,
        sub.language, PENDING, max_attempts, sub.address,
    )
    return _delivery(row) if row else None


async def save_notices(conn: asyncpg.Connection, notices: Sequence[Notice]) -> None:
    """``save_notice`` for many notices in one statement."""
    await conn.execute(
        "INSERT INTO notices (event_id, event_type, source_topic, occurred_at, payload) "
        "SELECT e, t, s, o, p::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
        "AS n(e, t, s, o, p) ON CONFLICT (event_id) DO NOTHING",
        [n.event_id for n in notices], [n.event_type for n in notices], [n.source_topic for n in notices],
        [n.occurred_at for n in notices], [json.dumps(n.to_json()) for n in notices],
    )


async def create_many(
    conn: asyncpg.Connection, wanted: Sequence[tuple[Subscription, Notice]], *, max_attempts: int,
) -> list[Delivery]:
    """``create`` for many (subscription, notice) pairs in one statement: the deliveries created,
    in the order of ``wanted`` (a pair that already has one is left out)."""
    ids = [str(uuid.uuid4()) for _ in wanted]
    rows = await conn.fetch(
        "WITH created AS (INSERT INTO deliveries AS d (id, subscription_id, event_id, event_type, source_topic, "
        "channel, language, status, max_attempts) SELECT i, s, e, t, src, c, l, $8, $9 FROM unnest($1::uuid[], "
        "$2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS w(i, s, e, t, src, c, l) "
        f"ON CONFLICT ON CONSTRAINT deliveries_once DO NOTHING RETURNING {_D_COLUMNS.replace('d.', '')}) "
        f"SELECT {_D_COLUMNS}, s.address FROM created d JOIN subscriptions s ON s.id = d.subscription_id",
        ids, [sub.id for sub, _ in wanted], [n.event_id for _, n in wanted], [n.event_type for _, n in wanted],
        [n.source_topic for _, n in wanted], [sub.channel for sub, _ in wanted], [sub.language for sub, _ in wanted],
        PENDING, max_attempts,
    )
    order = {delivery_id: i for i, delivery_id in enumerate(ids)}
    return sorted((_delivery(r) for r in rows), key=lambda d: order[d.id])


async def get(conn: asyncpg.Connection | asyncpg.Pool, delivery_id: str, *, lock: bool = False) -> Delivery | None:
    sql = f"{_SELECT} WHERE d.id = $1::uuid" + (" FOR UPDATE OF d" if lock else "")
    row = await conn.fetchrow(sql, delivery_id)
    return _delivery(row) if row else None


async def claim_due(pool: asyncpg.Pool, *, limit: int, lease_s: float) -> list[Job]:
    """Lease up to ``limit`` due deliveries to this sender."""
    rows = await pool.fetch(
        "WITH due AS (SELECT id FROM deliveries WHERE status IN ('PENDING', 'FAILED') AND next_attempt_at <= now() "
        "AND (claimed_until IS NULL OR claimed_until < now()) ORDER BY next_attempt_at LIMIT $1 "
        "FOR UPDATE SKIP LOCKED) "
        "UPDATE deliveries d SET claimed_until = now() + make_interval(secs => $2) FROM due "
        "WHERE d.id = due.id RETURNING d.id",
        limit, lease_s,
    )
    if not rows:
        return []
    jobs = await pool.fetch(
        f"{_SELECT.replace('s.address FROM', _JOB_COLUMNS)} "
        "JOIN notices n ON n.event_id = d.event_id WHERE d.id = ANY($1::uuid[])",
        [r["id"] for r in rows],
    )
    return [
        Job(delivery=_delivery(r), address=r["address"], notice=r["payload"],
            secret_sealed=bytes(r["secret_encrypted"]) if r["secret_encrypted"] is not None else None,
            rate_checked=r["rate_checked"], owner_role=r["owner_role"])
        for r in jobs
    ]


async def take_token(conn: asyncpg.Connection | asyncpg.Pool, *, recipient: str, burst: int, window_s: float,
                     delivery_id: str | None = None) -> bool:
    """Spend one token of ``recipient``'s bucket (created full), in ONE statement: the bucket row is
    locked only for that statement, not for a transaction of several round trips. With
    ``delivery_id``, the same statement marks that delivery rate-checked when a token was spent.
    The arithmetic is ``policy.take`` (``refill`` then spend one), written in SQL."""
    now = datetime.now(UTC)
    first = burst >= 1
    available = (
        "least($2::float8, b.tokens + greatest(0, extract(epoch FROM $3::timestamptz - b.updated_at)) * $2 / $4)"
    )
    value = await conn.fetchval(
        "WITH spent AS (INSERT INTO rate_buckets AS b (recipient, tokens, updated_at, last_allowed) "
        "VALUES ($1, $5, $3, $6) ON CONFLICT (recipient) DO UPDATE SET "
        f"last_allowed = ({available} >= 1), "
        f"tokens = {available} - CASE WHEN {available} >= 1 THEN 1 ELSE 0 END, "
        "updated_at = greatest(b.updated_at, $3::timestamptz) RETURNING last_allowed), "
        "checked AS (UPDATE deliveries SET rate_checked = true WHERE id = $7::uuid "
        "AND (SELECT last_allowed FROM spent)) "
        "SELECT last_allowed FROM spent",
        recipient, float(burst), now, float(window_s), float(burst - 1) if first else float(burst), first,
        delivery_id,
    )
    return bool(value)


_TAKE_TOKENS = (
    # The bucket as it is (row-locked for this statement), the tokens it has now, how many go.
    "WITH old AS (SELECT tokens, updated_at FROM rate_buckets WHERE recipient = $1 FOR UPDATE), "
    "avail AS (SELECT coalesce((SELECT least($2::float8, o.tokens + greatest(0, extract(epoch FROM "
    "$3::timestamptz - o.updated_at)) * $2 / $4) FROM old o), $2::float8) AS a), "
    "given AS (SELECT a, least(cardinality($5::uuid[]), floor(a))::int AS g FROM avail), "
    # Created full when it did not exist; a bucket another sender created meanwhile is left alone
    # (no row comes back, the caller takes its tokens one by one instead).
    "spent AS (INSERT INTO rate_buckets AS b (recipient, tokens, updated_at, last_allowed) "
    "SELECT $1, a - g, $3, g = cardinality($5::uuid[]) FROM given ON CONFLICT (recipient) DO UPDATE SET "
    "tokens = EXCLUDED.tokens, updated_at = greatest(b.updated_at, EXCLUDED.updated_at), "
    "last_allowed = EXCLUDED.last_allowed WHERE EXISTS (SELECT 1 FROM old) RETURNING 1), "
    "checked AS (UPDATE deliveries SET rate_checked = true WHERE EXISTS (SELECT 1 FROM spent) "
    "AND id = ANY(($5::uuid[])[1:(SELECT g FROM given)])) "
    "SELECT g FROM given WHERE EXISTS (SELECT 1 FROM spent)"
)


async def take_tokens(conn: asyncpg.Connection | asyncpg.Pool, *, recipient: str, burst: int, window_s: float,
                      delivery_ids: Sequence[str]) -> int | None:
    """``take_token`` for each of ``delivery_ids`` in turn, in ONE statement: how many got a token
    (the first ones; they are marked rate-checked), or None when the bucket was created by another
    sender during the statement (nothing was spent: take them one by one)."""
    value = await conn.fetchval(_TAKE_TOKENS, recipient, float(burst), datetime.now(UTC), float(window_s),
                                list(delivery_ids))
    return None if value is None else int(value)


async def mark_rate_checked(conn: asyncpg.Connection, delivery_id: str) -> None:
    await conn.execute("UPDATE deliveries SET rate_checked = true WHERE id = $1::uuid", delivery_id)


async def update(
    conn: asyncpg.Connection,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    last_error: str = "",
    next_attempt_at: datetime | None = None,
    sent_at: datetime | None = None,
    parts: int | None = None,
    rate_checked: bool | None = None,
) -> Delivery:
    """Record an outcome and release the lease."""
    await conn.execute(
        "UPDATE deliveries SET status = $2, attempts = $3, last_error = $4, "
        "next_attempt_at = COALESCE($5, next_attempt_at), sent_at = COALESCE($6, sent_at), "
        "parts = COALESCE($7, parts), rate_checked = COALESCE($8, rate_checked), "
        "claimed_until = NULL, updated_at = now() WHERE id = $1::uuid",
        delivery_id, status, attempts, last_error[:2000], next_attempt_at, sent_at, parts, rate_checked,
    )
    found = await get(conn, delivery_id)
    assert found is not None
    return found


_OUTCOMES = (
    "outcomes_written AS (UPDATE deliveries AS d SET status = v.status, attempts = v.attempts, "
    "last_error = v.last_error, next_attempt_at = v.next_attempt_at, sent_at = v.sent_at, parts = v.parts, "
    "claimed_until = NULL, updated_at = v.updated_at FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], "
    "$5::timestamptz[], $6::timestamptz[], $7::int[], $8::timestamptz[]) "
    "AS v(id, status, attempts, last_error, next_attempt_at, sent_at, parts, updated_at) WHERE d.id = v.id)"
)


async def record_outcomes(
    conn: asyncpg.Connection, outcomes: Sequence[Delivery], *, records: Sequence[OutboxRecord], schema: str,
) -> None:
    """The sender's outcomes, each delivery as it now is (its lease released), and their events
    ``records``, in ONE statement (its own transaction when the caller opened none)."""
    await outbox.enqueue_records(
        conn, schema=schema, records=records, with_sql=_OUTCOMES,
        with_args=[[d.id for d in outcomes], [d.status for d in outcomes], [d.attempts for d in outcomes],
                   [d.last_error[:2000] for d in outcomes], [d.next_attempt_at for d in outcomes],
                   [d.sent_at for d in outcomes], [d.parts for d in outcomes], [d.updated_at for d in outcomes]],
    )


async def list_deliveries(
    pool: asyncpg.Pool, *, statuses: list[str], subscription_id: str | None, event_id: str | None,
    owner: str | None, limit: int, offset: int,
) -> list[Delivery]:
    rows = await pool.fetch(
        f"{_SELECT} WHERE (cardinality($1::text[]) = 0 OR d.status = ANY($1::text[])) "
        "AND ($2::uuid IS NULL OR d.subscription_id = $2::uuid) AND ($3::text IS NULL OR d.event_id = $3) "
        "AND ($4::text IS NULL OR s.owner = $4) ORDER BY d.created_at DESC, d.id DESC LIMIT $5 OFFSET $6",
        statuses, subscription_id, event_id, owner, limit, offset,
    )
    return [_delivery(r) for r in rows]
