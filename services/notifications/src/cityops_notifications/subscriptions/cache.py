"""The worker's copy of the active subscriptions, reloaded only when they changed.

Every change to ``subscriptions`` bumps ``subscription_version`` in its own transaction (a trigger,
migration 002). ``current()`` reads that one row — one small query instead of a scan per event —
and reloads when it moved. The version and the rows are read in one statement (one snapshot), so
the copy is never labelled newer than its content: an event handled after a subscription
committed always sees that subscription, as with a query per event.
"""

from __future__ import annotations

import asyncio

import asyncpg

from cityops_notifications.notices.models import Notice
from cityops_notifications.subscriptions import rules
from cityops_notifications.subscriptions.models import Subscription
from cityops_notifications.subscriptions.store import COLUMNS, to_subscription


class ActiveSubscriptions:
    def __init__(self) -> None:
        self._version: int | None = None
        self._subscriptions: list[Subscription] = []
        self._reloading = asyncio.Lock()

    async def current(self, pool: asyncpg.Pool) -> list[Subscription]:
        """The active subscriptions as of now."""
        version = await pool.fetchval("SELECT version FROM subscription_version")
        if version != self._version:
            async with self._reloading:
                if version != self._version:
                    await self._reload(pool)
        return self._subscriptions

    async def _reload(self, pool: asyncpg.Pool) -> None:
        rows = await pool.fetch(
            f"SELECT v.version AS cache_version, {', '.join(f's.{c.strip()}' for c in COLUMNS.split(','))} "
            "FROM subscription_version AS v LEFT JOIN subscriptions AS s ON s.active"
        )
        self._subscriptions = [to_subscription(r) for r in rows if r["id"] is not None]
        self._version = rows[0]["cache_version"]


def could_match(subscriptions: list[Subscription], notice: Notice) -> list[Subscription]:
    """The subscriptions ``notice`` may be for (a superset of ``rules.matches``: any citizen is
    assumed to follow the incident; the caller checks followers in the database)."""
    return [s for s in subscriptions if rules.matches(s, notice, follows=True)]
