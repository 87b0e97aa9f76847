"""The intake batch when the database fails: every report of the batch gets ``Unavailable``
(UNAVAILABLE to the caller, who retries with the same key), none an INTERNAL-bound driver error.
The database is a stand-in that fails the way asyncpg does when Postgres dies mid-statement; the
end-to-end proof with a real Postgres killed under load is fault scenario S3."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from asyncpg import exceptions as pg

from cityops_incidents.incidents.batch import IntakeBatcher
from cityops_incidents.incidents.models import Actor, ReportIn
from cityops_incidents.rules import load_rules
from cityops_platform.errors import Unavailable


class DyingPool:
    """Every acquire fails like a connection whose server went away mid-operation."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.acquired = 0

    def acquire(self) -> Any:
        self.acquired += 1
        raise self.error


def report(n: int) -> ReportIn:
    return ReportIn(category="ADMINISTRATIVE_PROCEDURE", source="HOTLINE_1022", lat=10.98 + n * 1e-3, lon=106.65,
                    idempotency_key=f"k-{n}", description=f"Hỏi thủ tục số {n}")


@pytest.mark.parametrize("error", [
    pg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    pg.CannotConnectNowError("the database system is starting up"),
])
async def test_a_database_failure_fails_every_report_of_the_batch_with_unavailable_at_once(error: Exception) -> None:
    pool = DyingPool(error)
    batcher = IntakeBatcher(pool=pool, rules=load_rules())  # type: ignore[arg-type]
    actor = Actor("call-taker-1", "call_taker")
    now = datetime.now(UTC)
    results = await asyncio.gather(*(batcher.file(report(n), actor=actor, now=now) for n in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results), results
    # One attempt for the whole batch: the reports are not retried one by one on a dead server.
    assert pool.acquired == 1


async def test_a_bug_is_still_its_own_reports_error_not_unavailable() -> None:
    pool = DyingPool(KeyError("a bug"))
    batcher = IntakeBatcher(pool=pool, rules=load_rules())  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.file(report(n), actor=Actor("c", "call_taker"), now=datetime.now(UTC))
                                     for n in range(3)), return_exceptions=True)
    assert all(isinstance(r, KeyError) for r in results), results
    assert pool.acquired == 1 + 3  # the batch, then each report alone
