"""The transactional outbox: a state change and its event commit together, or not at all.

``enqueue`` is called inside the service's own transaction. ``OutboxRelay`` publishes committed
rows to Kafka in id order, woken by LISTEN/NOTIFY with a polling fallback, and marks them published
only after the broker acknowledged them (acks=all). A relay killed between the send and the mark
publishes those rows again on restart: consumers de-duplicate on the event id. Several relays can
share one outbox: ``FOR UPDATE SKIP LOCKED`` hands each row to one of them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections.abc import Sequence

import asyncpg
from google.protobuf.message import Message

from cityops_platform import metrics
from cityops_platform.db.pool import check_schema
from cityops_platform.kafka.headers import event_headers
from cityops_platform.kafka.producer import EventProducer

log = logging.getLogger("cityops.outbox")


def channel_name(schema: str) -> str:
    return f"{check_schema(schema)}_outbox"


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
    event_id = event_id or str(uuid.uuid4())
    headers = event_headers(event_id, event_type, producer)
    key_bytes = key.encode() if isinstance(key, str) else key
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)",
        event_id,
        topic,
        key_bytes,
        message.SerializeToString(),
        [[k, base64.b64encode(v).decode()] for k, v in headers],
    )
    await conn.execute("SELECT pg_notify($1, '')", channel_name(schema))
    return event_id


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
        self.published += len(rows)
        return len(rows)

    async def pending(self) -> int:
        count = await self._pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        metrics.OUTBOX_PENDING.labels(self._schema).set(count)
        return int(count)

    async def run(self) -> None:
        """Loop: drain the outbox, then sleep until NOTIFY or the poll interval. Survives outages."""
        try:
            await self._loop()
        finally:
            await self._release_listener()

    async def _loop(self) -> None:
        last_cleanup = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                if self._listener is None or self._listener.is_closed():
                    self._listener = await self._pool.acquire()
                    await self._listener.add_listener(channel_name(self._schema), self._on_notify)
                while not self._stopping.is_set() and await self.publish_pending():
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
                metrics.ERRORS_SWALLOWED.labels("outbox_relay").inc()
                log.warning("outbox relay error; will retry", extra={"error": repr(exc)[:300]})
                await self._release_listener()
                await asyncio.sleep(min(self._poll, 1.0))
                continue
            self._wake.clear()
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
