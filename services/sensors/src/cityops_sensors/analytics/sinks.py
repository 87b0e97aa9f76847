"""Write-behind to Postgres for the worker: aggregates, alert history and sensor status.

The stream never waits on Postgres: rows are buffered (deduplicated by their keys, latest wins)
and flushed every ``flush_seconds``. Every write is an idempotent upsert, so a replay after a
restart rewrites the same rows. A failed flush keeps the rows and retries on the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from cityops_platform import loops, metrics
from cityops_sensors.alerts.store import AlertRow, AlertStore
from cityops_sensors.analytics.store import AggregateRow, AnalyticsStore, LiveRow

log = logging.getLogger("cityops.sensors.sink")
K = TypeVar("K")
R = TypeVar("R")


class PostgresSink:
    def __init__(self, analytics: AnalyticsStore, alerts: AlertStore, *, flush_seconds: float) -> None:
        self._analytics = analytics
        self._alerts = alerts
        self._flush_s = flush_seconds
        self._aggregates: dict[tuple[str, datetime], AggregateRow] = {}
        self._live: dict[str, LiveRow] = {}
        self._alert_rows: dict[str, AlertRow] = {}

    def add(self, aggregates: list[AggregateRow], live: list[LiveRow], alerts: list[AlertRow]) -> None:
        for row in aggregates:
            self._aggregates[(row[0], row[1])] = row
        for lrow in live:
            self._live[lrow[0]] = lrow
        for arow in alerts:
            self._alert_rows[arow[0]] = arow

    async def flush(self) -> None:
        # Alerts first: a screen that sees a sensor ALERTING can then list its alert.
        await _write(self._alert_rows, self._alerts.upsert_many)
        await _write(self._aggregates, self._analytics.upsert_aggregates)
        await _write(self._live, self._analytics.upsert_live)

    async def run(self) -> None:
        await loops.every(self._flush_s, self.flush, on_error=_flush_failed)


def _flush_failed(_exc: Exception) -> None:
    metrics.ERRORS_SWALLOWED.labels("sensors_sink_flush").inc()
    log.exception("Postgres flush failed; rows kept for the next round")


async def _write(buffer: dict[K, R], upsert: Callable[[list[R]], Awaitable[object]]) -> None:
    """Write out and empty ``buffer``; on failure put its rows back (rows added meanwhile win)."""
    if not buffer:
        return
    rows = dict(buffer)
    buffer.clear()
    try:
        await upsert(list(rows.values()))
    except Exception:
        merged = {**rows, **buffer}
        buffer.clear()
        buffer.update(merged)
        raise
