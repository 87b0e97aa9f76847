"""The transactional outbox: a state change and its event commit together, or not at all.

``enqueue`` is called inside the service's own transaction. ``OutboxRelay`` publishes committed
rows to Kafka in id order and marks them published only after the broker acknowledged them
(acks=all). A relay killed between the send and the mark publishes those rows again on restart:
consumers de-duplicate on the event id. Several relays can share one outbox: ``FOR UPDATE SKIP
LOCKED`` hands each row to one of them.

Waking the relay: no LISTEN/NOTIFY. ``pg_notify`` in every writing transaction makes every commit
take the cluster-wide notify-queue lock (``Lock:object`` on ``pg_notify``'s queue), which
serialised all the services' commits under load, and every relay of the schema woke for every
commit. Instead the committing process wakes its own relays when the connection that enqueued goes
back to the pool (after its transaction ended, so the rows are visible); every relay also polls
every ``poll_interval_s`` as the safety net (rows written by another process, a connection used
outside the pool). A wake only shortens the wait: nothing is lost if it never comes.

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
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf.message import Message

from cityops_platform import metrics
from cityops_platform.db import pool as db_pool
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


# Connections that enqueued rows in their current use, by schema; their relays are woken when the
# connection goes back to the pool (``db_pool.on_release``), i.e. after the transaction ended.
_enqueued: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
# The relays running in this process, by schema.
_relays: dict[str, weakref.WeakSet[OutboxRelay]] = {}


def _raw(conn: Any) -> Any:
    """The connection behind an ``asyncpg`` pool proxy (the pool's release hook sees that one)."""
    return getattr(conn, "_con", None) or conn


def wake_relays(schema: str) -> None:
    """Wake this process's relays of ``schema`` now (call after the rows were committed)."""
    for relay in list(_relays.get(schema, ())):
        relay.wake()


def _on_release(conn: Any) -> None:
    for schema in _enqueued.pop(conn, ()):
        wake_relays(schema)


db_pool.on_release(_on_release)


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


async def enqueue(conn: asyncpg.Connection, record: OutboxRecord, *, schema: str) -> str:
    """Add one event (see ``outbox_record``) to the outbox inside the caller's transaction; returns
    its event id."""
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
    """Add ``records`` (in this order) to the outbox in ONE statement, inside the caller's
    transaction; this process's relays are woken when the connection goes back to its pool.

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
        "SELECT count(*) FROM outbox_added"
    )
    await conn.execute(
        sql,
        *with_args,
        [r.event_id for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [r.headers_json for r in records],
    )
    if records:
        _enqueued.setdefault(_raw(conn), set()).add(check_schema(schema))


# Claim and mark one batch in one statement. ``set_config(…, true)`` is ``SET LOCAL``: the
# relay's commit only marks rows published, so it need not wait for the WAL flush (see
# ``publish_pending``).
_CLAIM = (
    "WITH relay AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "UPDATE outbox o SET published_at = now() FROM (SELECT id FROM outbox WHERE published_at IS NULL "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) AS c, relay WHERE o.id = c.id "
    "RETURNING o.id, o.topic, o.key, o.value, o.headers"
)


class OutboxRelay:
    """Publishes the outbox of one schema to Kafka until stopped.

    Wakes are coalesced: a drain starts at most once per ``min_drain_interval_s``. When the relay
    was idle a wake drains at once (no added latency at low load); under load the commits of the
    interval share one batch, so one Kafka produce request (and one wake-up of every consumer's
    fetch) carries many events instead of one per commit.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: EventProducer,
        *,
        schema: str,
        batch_size: int = 2000,
        poll_interval_s: float = 1.0,
        retention_s: float = 3600.0,
        min_drain_interval_s: float = 0.01,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = check_schema(schema)
        self._batch = batch_size
        self._poll = poll_interval_s
        self._retention = retention_s
        self._min_interval = min_drain_interval_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published = 0
        self.batches = 0  # batches sent (each one claim statement and one produce of all its records)
        _relays.setdefault(self._schema, weakref.WeakSet()).add(self)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published.

        Three round trips per batch, whatever its size: ``BEGIN``, ONE statement that claims the
        rows and marks them published (``UPDATE … RETURNING``, rows locked with ``SKIP LOCKED`` so
        several relays share the outbox; it also turns ``synchronous_commit`` off for this
        transaction, see below), the Kafka send of the whole batch (acks=all), then ``COMMIT``.
        A send that fails rolls the mark back, so the rows stay pending and are sent again.

        The mark is the relay's own bookkeeping: if Postgres loses its commit in a crash (the
        asynchronous commit's window), the rows look unpublished again and are re-sent, which
        consumers de-duplicate on the event id, as they do after a relay killed between the send
        and the mark. The rows themselves were committed durably by the service's transaction.
        """
        records: list[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch)
            if rows:
                rows = sorted(rows, key=lambda r: r["id"])  # RETURNING has no order
                records = [
                    (r["topic"], r["key"], r["value"], [(k, base64.b64decode(v)) for k, v in r["headers"]])
                    for r in rows
                ]
                await self._producer.send_many(records)
        if not rows:
            return 0
        for topic, count in Counter(topic for topic, *_ in records).items():
            metrics.OUTBOX_PUBLISHED.labels(self._schema, topic).inc(count)
        _notify_observers(records)
        self.published += len(rows)
        self.batches += 1
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
        """Loop: drain the outbox, then sleep until woken (a commit in this process) or the poll
        interval. Survives outages."""
        await self._loop()

    async def _loop(self) -> None:
        last_cleanup = 0.0
        last_backlog = 0.0
        last_drain = -1e9
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            # Coalesce the wakes of a busy interval into one batch (see the class docstring).
            pause = last_drain + self._min_interval - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            last_drain = loop.time()
            if loop.time() - last_backlog >= BACKLOG_INTERVAL_S:
                await self._measure_backlog()
                last_backlog = loop.time()
            try:
                # Cleared before draining, never after: a wake arriving while the last (empty)
                # batch commits must not be lost, or its rows wait for the poll interval.
                self._wake.clear()
                # A short batch emptied the outbox as of its snapshot; rows committed since then
                # wake it again. Only a full batch means more may be waiting right now.
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
                await asyncio.sleep(min(self._poll, 1.0))
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    def wake(self) -> None:
        """Drain now rather than at the next poll (rows were committed in this process)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
