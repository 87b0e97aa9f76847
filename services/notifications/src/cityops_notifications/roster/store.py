"""Roster contacts as subscriptions of kind ROSTER (migration 010), so breach notices travel the
same delivery queue as every other message: retries, dead letters, DeliveryEvents, no duplicates.

A roster subscription is inactive (``active = false``): no ordinary event ever matches it (the
matcher and the worker's cache only read active rows) and ListSubscriptions does not show it;
only ``breach.notify_on_duty`` creates deliveries for it. Its id is derived from the supervisor
and the contact, so every worker finds the same row.
"""

from __future__ import annotations

import uuid

import asyncpg

from cityops_notifications.roster.models import Contact, Supervisor
from cityops_notifications.subscriptions.models import Subscription
from cityops_notifications.subscriptions.store import COLUMNS, to_subscription

ROSTER_NAMESPACE = uuid.UUID("5b1f2c3e-6f0a-4d6e-9a51-3c2f1e0d9b7a")
ROSTER_KIND = "ROSTER"


def subscription_id(supervisor: Supervisor, contact: Contact) -> str:
    return str(uuid.uuid5(ROSTER_NAMESPACE, f"{supervisor.id}|{contact.channel}|{contact.address}|{contact.language}"))


async def roster_subscription(conn: asyncpg.Connection, supervisor: Supervisor, contact: Contact) -> Subscription:
    """The ROSTER subscription of ``contact``, created the first time. Read first: inserting (even
    a no-op) would bump ``subscription_version`` and make every worker reload its cache."""
    sub_id = subscription_id(supervisor, contact)
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM subscriptions WHERE id = $1::uuid", sub_id)
    if row is None:
        await conn.execute(
            "INSERT INTO subscriptions (id, owner, owner_role, channel, address, language, description, active, "
            "kind) VALUES ($1::uuid, $2, 'supervisor', $3, $4, $5, $6, false, $7) ON CONFLICT (id) DO NOTHING",
            sub_id, f"roster:{supervisor.id}", contact.channel, contact.address, contact.language,
            f"Lịch trực: {supervisor.name} (duty roster)", ROSTER_KIND,
        )
        row = await conn.fetchrow(f"SELECT {COLUMNS} FROM subscriptions WHERE id = $1::uuid", sub_id)
    return to_subscription(row)
