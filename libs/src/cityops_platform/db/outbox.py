"""The transactional outbox: a state change and its event commit together, or not at all.

``enqueue`` is called inside the service's own transaction. ``OutboxRelay`` publishes committed
rows to Kafka in id order, woken by LISTEN/NOTIFY with a polling fallback, and marks them published
only after the broker acknowledged them (acks=all). A relay killed between the send and the mark
publishes those rows again on restart: consumers de-duplicate on the event id. Several relays can
share one outbox: ``FOR UPDATE SKIP LOCKED`` hands each row to one of them.

The relay also measures the backlog (``cityops_outbox_pending``, ``..._oldest_pending_age_seconds``)
and hands every published record to the observers a service registered for its topic
(``observe_published``): that is where domain counters are taken from the events themselves,
once per published event, without touching the code that made the change.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf.message import Message

from cityops_platform import metrics
from cityops_platform.db.pool import check_schema
from cityops_platform.failures import count_and_log
from cityops_platform.kafka.headers import event_headers
from cityops_platform.kafka.producer import EventProducer

log = logging.getLogger("cityops.outbox")
BACKLOG_INTERVAL_S = 5.0

PublishedObserver = Callable[[bytes, Sequence[tuple[str, bytes]]], None]
_observers: dict[str, dict[str, PublishedObserver]] = {}


def observe_published(topic: str, name: str, observer: PublishedObserver) -> None:
    """Call ``observer(value, headers)`` for every record of catalog ``topic`` a relay in this process
    publishes, after the broker acknowledged it. Idempotent on ``name``; an observer that raises is
    logged and counted, never allowed to stop the relay. (A relay killed between the send and the
    mark publishes those rows again, so an observer may, rarely, see an event twice.)"""
    _observers.setdefault(topic, {})[name] = observer


def _notify_observers(records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]) -> None:
    for topic, _key, value, headers in records:
        for name, observer in _observers.get(topic, {}).items():
            try:
                observer(value, headers)
            except Exception as exc:
                count_and_log("outbox_observer", log, "outbox observer failed", exc, observer=name)


def channel_name(schema: str) -> str:
    return f"{check_schema(schema)}_outbox"


@dataclass(frozen=True)
class OutboxRecord:
    """One event ready for the outbox (see ``outbox_record``)."""

    event_id: str
    topic: str
    key: bytes | None
    value: bytes
    headers_json: str


def outbox_record(
    *,
    topic: str,
    key: str | bytes | None,
    message: Message,
    event_type: str,
    producer: str,
    event_id: str | None = None,
) -> OutboxRecord:
    """Serialise an event for ``enqueue_records``. The active trace context goes into its headers,
    so the Kafka record continues the trace of the request that caused it."""
    event_id = event_id or str(uuid.uuid4())
    headers = event_headers(event_id, event_type, producer)
    return OutboxRecord(
        event_id=event_id,
        topic=topic,
        key=key.encode() if isinstance(key, str) else key,
        value=message.SerializeToString(),
        headers_json=json.dumps([[k, base64.b64encode(v).decode()] for k, v in headers]),
    )


async def enqueue(
    conn: asyncpg.Connection,
    *,
    schema: str,
    topic: str,
    key: str | bytes | None,
    message: Message,
    event_type: str,
    producer: str,
    event_id: str | None = None,
) -> str:
    """Add an event to the outbox inside the caller's transaction; returns its event id.

    The active trace context is stored with the row, so the Kafka record continues the trace of
    the request that caused it.
    """
    record = outbox_record(topic=topic, key=key, message=message, event_type=event_type, producer=producer,
                           event_id=event_id)
    await enqueue_records(conn, schema=schema, records=[record])
    return record.event_id


async def enqueue_records(
    conn: asyncpg.Connection,
    *,
    schema: str,
    records: Sequence[OutboxRecord],
    with_sql: str = "",
    with_args: Sequence[Any] = (),
) -> None:
    """Add ``records`` (in this order) to the outbox and wake the relays, in ONE statement, inside
    the caller's transaction.

    ``with_sql`` may carry the caller's own data-modifying CTEs (``name AS (INSERT …), …``, using
    parameters ``$1..$len(with_args)``): they run in the same statement, so a state change and its
    events cost one round trip instead of several.
    """
    if not records and not with_sql:
        return
    n = len(with_args)
    ctes = f"{with_sql}, " if with_sql else ""
    sql = (
        f"WITH {ctes}outbox_added AS (INSERT INTO outbox (event_id, topic, key, value, headers) "
        f"SELECT e, t, k, v, h::jsonb FROM unnest(${n + 1}::text[], ${n + 2}::text[], ${n + 3}::bytea[], "
        f"${n + 4}::bytea[], ${n + 5}::text[]) WITH ORDINALITY AS r(e, t, k, v, h, i) ORDER BY i RETURNING id) "
        f"SELECT pg_notify(${n + 6}, '') FROM (SELECT 1 FROM outbox_added LIMIT 1) AS woken"
    )
    await conn.execute(
        sql,
        *with_args,
        [r.event_id for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [r.headers_json for r in records],
        channel_name(schema),
    )


class OutboxRelay:
    """Publishes the outbox of one schema to Kafka until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: EventProducer,
        *,
        schema: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        retention_s: float = 3600.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = check_schema(schema)
        self._batch = batch_size
        self._poll = poll_interval_s
        self._retention = retention_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published = 0
        self._listener: asyncpg.Connection | None = None

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox WHERE published_at IS NULL "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            records: list[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]] = [
                (
                    r["topic"],
                    r["key"],
                    r["value"],
                    [(k, base64.b64decode(v)) for k, v in r["headers"]],
                )
                for r in rows
            ]
            await self._producer.send_many(records)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        for topic, *_ in records:
            metrics.OUTBOX_PUBLISHED.labels(self._schema, topic).inc()
        _notify_observers(records)
        self.published += len(rows)
        return len(rows)

    async def pending(self) -> int:
        """Rows not yet published, and the age of the oldest, into the backlog gauges."""
        row = await self._pool.fetchrow(
            "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
            "FROM outbox WHERE published_at IS NULL"
        )
        metrics.OUTBOX_PENDING.labels(self._schema).set(row["n"])
        metrics.OUTBOX_OLDEST_AGE.labels(self._schema).set(max(0.0, float(row["age"])))
        return int(row["n"])

    async def _measure_backlog(self) -> None:
        # Measured even while Kafka is down: that is when the backlog grows.
        try:
            await self.pending()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            count_and_log("outbox_backlog", log, "outbox backlog not measured", exc)

    async def run(self) -> None:
        """Loop: drain the outbox, then sleep until NOTIFY or the poll interval. Survives outages."""
        try:
            await self._loop()
        finally:
            await self._release_listener()

    async def _loop(self) -> None:
        last_cleanup = 0.0
        last_backlog = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            if loop.time() - last_backlog >= BACKLOG_INTERVAL_S:
                await self._measure_backlog()
                last_backlog = loop.time()
            try:
                if self._listener is None or self._listener.is_closed():
                    self._listener = await self._pool.acquire()
                    await self._listener.add_listener(channel_name(self._schema), self._on_notify)
                # Cleared before draining, never after: a NOTIFY arriving while the last (empty)
                # batch commits must not be lost, or its rows wait for the poll interval.
                self._wake.clear()
                # A short batch emptied the outbox as of its snapshot; rows committed since then
                # NOTIFY again. Only a full batch means more may be waiting right now.
                while not self._stopping.is_set() and await self.publish_pending() >= self._batch:
                    pass
                if loop.time() - last_cleanup > 60:
                    await self._pool.execute(
                        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
                        self._retention,
                    )
                    last_cleanup = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                count_and_log("outbox_relay", log, "outbox relay error; will retry", exc)
                await self._release_listener()
                await asyncio.sleep(min(self._poll, 1.0))
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def _release_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(Exception):
            await listener.remove_listener(channel_name(self._schema), self._on_notify)
        with contextlib.suppress(Exception):
            await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
