"""Write-behind to Postgres for the worker: aggregates, alert history and sensor status.

The stream never waits on Postgres: rows are buffered (deduplicated by their keys, latest wins)
and flushed every ``flush_seconds``. Every write is an idempotent upsert, so a replay after a
restart rewrites the same rows. A failed flush keeps the rows and retries on the next round.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from cityops_platform import metrics
from cityops_sensors.alerts.store import AlertRow, AlertStore
from cityops_sensors.analytics.store import AggregateRow, AnalyticsStore, LiveRow

log = logging.getLogger("cityops.sensors.sink")


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
        if self._alert_rows:
            rows, self._alert_rows = self._alert_rows, {}
            try:
                await self._alerts.upsert_many(list(rows.values()))
            except Exception:
                self._alert_rows = {**rows, **self._alert_rows}
                raise
        if self._aggregates:
            aggs, self._aggregates = self._aggregates, {}
            try:
                await self._analytics.upsert_aggregates(list(aggs.values()))
            except Exception:
                self._aggregates = {**aggs, **self._aggregates}
                raise
        if self._live:
            live, self._live = self._live, {}
            try:
                await self._analytics.upsert_live(list(live.values()))
            except Exception:
                self._live = {**live, **self._live}
                raise

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.ERRORS_SWALLOWED.labels("sensors_sink_flush").inc()
                log.exception("Postgres flush failed; rows kept for the next round")
