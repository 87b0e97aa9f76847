"""Fan-out, listing and replay of deliveries.

Guarantees: one event never produces two deliveries for the same subscription (the consumer marks
the event id in ``processed_events`` and ``deliveries`` has a unique (event_id, subscription_id)),
whatever the restarts and redeliveries; every status change emits a DeliveryEvent in the same
transaction (outbox).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from cityops_notifications.deliveries import events, store
from cityops_notifications.deliveries.models import PENDING, REPLAYABLE, STATUSES, Delivery
from cityops_notifications.notices.models import Notice
from cityops_notifications.subscriptions import rules
from cityops_notifications.subscriptions import store as subscriptions
from cityops_notifications.subscriptions.models import PRIVILEGED_ROLES, Subscription
from cityops_notifications.subscriptions.service import page_bounds
from cityops_platform.auth import Principal
from cityops_platform.db import outbox
from cityops_platform.db.idempotency import first_times
from cityops_platform.errors import FieldViolation, IllegalTransition, NotFound, ValidationFailed

CONSUMER = "notifications-fanout"
# Roles that may see and replay every delivery; others see their own subscriptions' deliveries.
DELIVERY_ADMINS = PRIVILEGED_ROLES | {"operator"}


def needs_work(notice: Notice, candidates: list[Subscription]) -> bool:
    """False when ``fan_out`` would change nothing: no candidate subscription, no follower to record.
    Such an event needs no transaction (and no processed-event mark: replaying it changes nothing)."""
    return bool(candidates) or bool(notice.reporter_subject and notice.incident_id)


async def fan_out(
    conn: asyncpg.Connection, notice: Notice, *, max_attempts: int, candidates: list[Subscription] | None = None
) -> list[Delivery]:
    """Create a PENDING delivery for each matching subscription; call inside a transaction.

    Idempotent on the notice's event id: a second call for the same event creates nothing.
    ``candidates``: the active subscriptions that may match (``cache.could_match``), read from the
    database when None.
    """
    if candidates is None:
        candidates = await subscriptions.candidates(conn, event_type=notice.event_type,
                                                    incident_id=notice.incident_id)
    return await fan_out_many(conn, [(notice, candidates)], max_attempts=max_attempts)


async def fan_out_many(
    conn: asyncpg.Connection, work: Sequence[tuple[Notice, list[Subscription]]], *, max_attempts: int,
) -> list[Delivery]:
    """``fan_out`` of many notices (each with its candidate subscriptions), in the order given, in
    a number of statements that does not grow with their count; call inside a transaction.

    Each notice sees the followers recorded by the notices before it, as if they were fanned out one
    by one; an event id given twice (a redelivery in the same batch) is fanned out once.
    """
    fresh = await first_times(conn, CONSUMER, [n.event_id for n, _ in work])
    todo: list[tuple[Notice, list[Subscription]]] = []
    for notice, candidates in work:
        if notice.event_id in fresh:
            fresh.discard(notice.event_id)
            todo.append((notice, candidates))
    if not todo:
        return []
    # The followers stored before this batch, of the incidents a citizen's subscription may follow.
    asked = sorted({n.incident_id for n, cands in todo if n.incident_id and any(s.owner_role == "citizen"
                                                                                 for s in cands)})
    known = await subscriptions.followers_of(conn, asked) if asked else {}
    new_followers: list[tuple[str, str]] = []
    wanted: list[tuple[Subscription, Notice]] = []
    notices: list[Notice] = []
    for notice, candidates in todo:
        if notice.reporter_subject and notice.incident_id:
            follows = known.setdefault(notice.incident_id, set())
            if notice.reporter_subject not in follows:
                follows.add(notice.reporter_subject)
                new_followers.append((notice.incident_id, notice.reporter_subject))
        citizens = notice.incident_id and any(s.owner_role == "citizen" for s in candidates)
        following = known.get(notice.incident_id, set()) if citizens else set()
        matched = [s for s in candidates if rules.matches(s, notice, follows=s.owner in following)]
        if matched:
            notices.append(notice)
            wanted += [(sub, notice) for sub in matched]
    if new_followers:
        await subscriptions.record_followers(conn, new_followers)
    if not wanted:
        return []
    await store.save_notices(conn, notices)
    created = await store.create_many(conn, wanted, max_attempts=max_attempts)
    await outbox.enqueue_records(conn, schema=events.SCHEMA,
                                 records=[r for d in created for r in events.records(d, previous=None)])
    return created


def _check_id(value: str, field: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValidationFailed([FieldViolation(field, "phải là UUID (must be a UUID)")]) from None


async def list_deliveries(
    *, statuses: list[str], subscription_id: str, event_id: str, page_size: int, page_token: str,
    actor: Principal, pool: asyncpg.Pool,
) -> tuple[list[Delivery], str]:
    """Newest first; callers outside DELIVERY_ADMINS only see deliveries of their own subscriptions."""
    bad = [i for i, s in enumerate(statuses) if s not in STATUSES]
    if bad:
        raise ValidationFailed([FieldViolation(f"statuses[{i}]", "trạng thái không hợp lệ (invalid status)")
                                for i in bad])
    if subscription_id:
        _check_id(subscription_id, "subscription_id")
    limit, offset = page_bounds(page_size, page_token, 100)
    owner = None if not actor.roles.isdisjoint(DELIVERY_ADMINS) else actor.subject
    items = await store.list_deliveries(pool, statuses=statuses, subscription_id=subscription_id or None,
                                        event_id=event_id or None, owner=owner, limit=limit + 1, offset=offset)
    return items[:limit], (str(offset + limit) if len(items) > limit else "")


async def replay_delivery(delivery_id: str, *, actor: Principal, pool: asyncpg.Pool) -> Delivery:
    """Re-queue a FAILED, DEAD_LETTERED or SUPPRESSED delivery with a fresh attempt budget.

    The replay is a deliberate human act, so it is not rate-limited again.
    """
    _check_id(delivery_id, "delivery_id")
    async with pool.acquire() as conn, conn.transaction():
        current = await store.get(conn, delivery_id, lock=True)
        if current is None:
            raise NotFound("delivery", delivery_id)
        if current.status not in REPLAYABLE:
            raise IllegalTransition("delivery", current.status, PENDING)
        replayed = await store.update(conn, delivery_id, status=PENDING, attempts=0, last_error="",
                                      next_attempt_at=datetime.now(UTC), rate_checked=True)
        await events.publish(conn, replayed, previous=current.status, replayed=True,
                             actor=(actor.subject, actor.primary_role))
    return replayed
