"""The worker's copy of the active subscriptions, checked against Postgres at most every N ms.

Every change to ``subscriptions`` bumps ``subscription_version`` in its own transaction (a trigger,
migration 002). A *check* reads that row with Postgres's ``now()`` and reloads the rows when the
version moved (version, rows and ``now()`` in one statement, one snapshot). The copy is therefore
known to contain every subscription committed before ``as_of`` (the check's ``now()``, which is
taken before its snapshot).

The promise (docs/reliability.md, "subscription changes"): **a subscription change acknowledged
before an event was published applies to that event**. An event's publication time is its Kafka
record timestamp (CreateTime, stamped by the producer when it sends, after the producing
transaction committed). ``current(pool, published_at)`` returns the copy only if
``as_of >= published_at + clock_skew``; otherwise the event waits for a check that satisfies it.
Checks are shared: one runs at a time and at most every ``check_interval`` seconds, so under load
the cost is ≤ 1/``check_interval`` small queries per second instead of one per event, and an event
waits at most ``clock_skew + check_interval`` (plus one query) after its publication.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from cityops_notifications.notices.models import Notice
from cityops_notifications.subscriptions import rules
from cityops_notifications.subscriptions.models import Subscription
from cityops_notifications.subscriptions.store import COLUMNS, to_subscription

_CHECK = "SELECT version, extract(epoch FROM now())::float8 AS as_of FROM subscription_version"
_RELOAD = (
    "SELECT v.version AS cache_version, extract(epoch FROM now())::float8 AS cache_as_of, "
    f"{', '.join(f's.{c.strip()}' for c in COLUMNS.split(','))} "
    "FROM subscription_version AS v LEFT JOIN subscriptions AS s ON s.active"
)
# Sleep at most this long at once waiting for Postgres's clock (then check again).
_MAX_SLEEP_S = 0.5


class ActiveSubscriptions:
    """Active subscriptions with the Postgres time up to which they are known complete."""

    def __init__(self, *, check_interval_s: float = 0.05, clock_skew_s: float = 0.025) -> None:
        self.check_interval_s = check_interval_s
        self.clock_skew_s = clock_skew_s
        self.checks = 0  # statements run (for tests and metrics)
        self._version: int | None = None
        self._as_of = float("-inf")  # Postgres epoch seconds
        self._last_check = float("-inf")  # time.monotonic()
        self._subscriptions: list[Subscription] = []
        self._checking = asyncio.Lock()

    async def current(self, pool: asyncpg.Pool, published_at: float | None = None) -> list[Subscription]:
        """The active subscriptions, complete for an event published at ``published_at`` (epoch
        seconds; ``None`` or ≤ 0 means "now": the event gets a fresh check)."""
        now = time.time()
        # A producer's clock ahead of ours must not park the worker: the event was published by now.
        if published_at is None or published_at <= 0 or published_at > now:
            published_at = now
        needed = published_at + self.clock_skew_s
        while self._as_of < needed:
            async with self._checking:
                if self._as_of >= needed:  # a check run while this event waited covers it
                    break
                # Not sooner than the interval after the previous check, nor before Postgres's clock
                # can have reached ``needed`` (by the local clock: a wrong guess costs one more check).
                wait = max(self._last_check + self.check_interval_s - time.monotonic(), needed - time.time())
                if wait > 0:
                    await asyncio.sleep(min(wait, _MAX_SLEEP_S))
                await self._check(pool)
        return self._subscriptions

    async def _check(self, pool: asyncpg.Pool) -> None:
        self._last_check = time.monotonic()
        self.checks += 1
        row = await pool.fetchrow(_CHECK)
        if row["version"] == self._version:
            self._as_of = max(self._as_of, row["as_of"])
            return
        self.checks += 1
        rows = await pool.fetch(_RELOAD)
        self._subscriptions = [to_subscription(r) for r in rows if r["id"] is not None]
        self._version = rows[0]["cache_version"]
        self._as_of = max(self._as_of, rows[0]["cache_as_of"])


def could_match(subscriptions: list[Subscription], notice: Notice) -> list[Subscription]:
    """The subscriptions ``notice`` may be for (a superset of ``rules.matches``: any citizen is
    assumed to follow the incident; the caller checks followers in the database)."""
    return [s for s in subscriptions if rules.matches(s, notice, follows=True)]
