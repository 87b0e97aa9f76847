"""The worker's subscription copy: complete for an event's publication time, checks shared and spaced."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from cityops_notifications.subscriptions.cache import ActiveSubscriptions


class FakePool:
    """Answers the version check and the reload like Postgres would, with its clock ``now()``."""

    def __init__(self) -> None:
        self.version = 1
        self.statements: list[str] = []

    async def fetchrow(self, sql: str) -> dict[str, Any]:
        self.statements.append("check")
        return {"version": self.version, "as_of": time.time()}

    async def fetch(self, sql: str) -> list[dict[str, Any]]:
        self.statements.append("reload")
        return [{"cache_version": self.version, "cache_as_of": time.time(), "id": None}]


@pytest.mark.asyncio
async def test_an_event_published_after_the_last_check_waits_for_a_new_one() -> None:
    pool = FakePool()
    active = ActiveSubscriptions(check_interval_s=0.02, clock_skew_s=0.0)
    await active.current(pool, time.time())  # type: ignore[arg-type]
    assert pool.statements == ["check", "reload"]
    before = time.time() - 1.0
    await active.current(pool, before)  # type: ignore[arg-type]
    assert pool.statements == ["check", "reload"]  # published before the copy's time: no statement
    pool.version = 2  # a subscription changed; the next event is published after it
    await active.current(pool, time.time())  # type: ignore[arg-type]
    assert pool.statements == ["check", "reload", "check", "reload"]


@pytest.mark.asyncio
async def test_events_arriving_together_share_one_check() -> None:
    pool = FakePool()
    active = ActiveSubscriptions(check_interval_s=0.05, clock_skew_s=0.0)
    await active.current(pool, time.time())  # type: ignore[arg-type]
    pool.statements.clear()
    now = time.time()
    await asyncio.gather(*(active.current(pool, now) for _ in range(50)))  # type: ignore[arg-type]
    assert pool.statements == ["check"]


@pytest.mark.asyncio
async def test_the_clock_skew_is_waited_for() -> None:
    pool = FakePool()
    active = ActiveSubscriptions(check_interval_s=0.001, clock_skew_s=0.2)
    published = time.time()
    await active.current(pool, published)  # type: ignore[arg-type]
    # The copy it was given is known complete up to a Postgres time at least ``skew`` after publication.
    assert active._as_of >= published + 0.2
