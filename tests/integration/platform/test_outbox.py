"""The transactional outbox: state and event commit together; a killed relay loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from cityops.incidents.v1 import events_pb2
from cityops_devtools.testing import consume, eventually, make_settings
from cityops_platform.db import outbox
from cityops_platform.db.migrations import migrate
from cityops_platform.db.outbox import OutboxRelay
from cityops_platform.db.pool import create_pool
from cityops_platform.kafka import headers as h
from cityops_platform.kafka.producer import EventProducer
from cityops_platform.kafka.topics import INCIDENT_EVENTS

pytestmark = pytest.mark.integration
SCHEMA = "incidents"


async def _prepare(database_url: str) -> asyncpg.Pool:
    await migrate(database_url, SCHEMA, None)
    pool = await create_pool(database_url, SCHEMA)
    await pool.execute("CREATE TABLE IF NOT EXISTS thing (id text PRIMARY KEY)")
    return pool


async def _enqueue(conn: asyncpg.Connection, thing_id: str) -> str:
    record = outbox.outbox_record(
        topic=INCIDENT_EVENTS.name, key=thing_id, message=events_pb2.IncidentEvent(incident_id=thing_id),
        event_type="IncidentReported", producer="test",
    )
    return await outbox.enqueue(conn, record, schema=SCHEMA)


async def test_state_change_and_event_commit_together_or_not_at_all(
    kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    pool = await _prepare(database_url)
    committed, rolled_back = "committed-1", "rolled-back-1"
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("INSERT INTO thing VALUES ($1)", committed)
            await _enqueue(conn, committed)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.execute("INSERT INTO thing VALUES ($1)", rolled_back)
                await _enqueue(conn, rolled_back)
                raise RuntimeError("the service's rule failed after the write")
    assert await pool.fetchval("SELECT count(*) FROM thing") == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1

    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema=SCHEMA)
    assert await relay.publish_pending() == 1
    assert await relay.pending() == 0
    records = await consume(settings, INCIDENT_EVENTS.name, count=2, timeout=5)
    assert [r.key for r in records] == [committed.encode()]
    await producer.stop()
    await pool.close()


async def test_relay_killed_midway_publishes_every_event_after_restart(
    kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    pool = await _prepare(database_url)
    total = 5000
    event_ids: set[str] = set()
    async with pool.acquire() as conn, conn.transaction():
        for i in range(total):
            event_ids.add(await _enqueue(conn, f"thing-{i}"))

    env = {**os.environ, "CITYOPS_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "CITYOPS_TOPIC_PREFIX": topic_prefix, "CITYOPS_DATABASE_URL": database_url}
    child = subprocess.Popen(  # noqa: ASYNC220 - a child process the test will kill -9
        [sys.executable, str(Path(__file__).with_name("relay_process.py")), SCHEMA, "10"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)

        async def some_published() -> int:
            return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))

        await eventually(lambda: _at_least(some_published, 300), timeout=60, interval=0.005)
        child.send_signal(signal.SIGKILL)
        await asyncio.to_thread(child.wait, 10)
    finally:
        if child.poll() is None:
            child.kill()
    published_at_kill = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    assert 0 < published_at_kill < total, "the relay must be killed mid-way for this test to mean anything"

    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema=SCHEMA, batch_size=500)
    while await relay.publish_pending():
        pass
    assert await relay.pending() == 0
    records = await consume(
        settings, INCIDENT_EVENTS.name, count=total, timeout=60,
        until=lambda found: {dict(r.headers)[h.EVENT_ID].decode() for r in found} >= event_ids,
    )
    seen = [dict(r.headers)[h.EVENT_ID].decode() for r in records]
    lost = event_ids - set(seen)
    duplicated = len(seen) - len(set(seen))
    sys.stdout.write(f"\noutbox kill test: events={total} published_before_kill={published_at_kill} "
          f"lost={len(lost)} duplicated={duplicated}\n")
    assert not lost
    await producer.stop()
    await pool.close()


async def _at_least(fetch, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await fetch() >= n


async def test_the_committing_process_wakes_its_relay_after_the_transaction_and_sends_no_notify(
    kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    """No ``pg_notify`` per commit (it serialised every commit on the notify-queue lock): the relay
    of this process is woken when the enqueuing connection returns to the pool, i.e. after commit."""
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    pool = await _prepare(database_url)
    await pool.execute("DELETE FROM outbox")
    producer = EventProducer(settings)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema=SCHEMA, poll_interval_s=3600)  # no poll can help here
    listener = await asyncpg.connect(database_url)
    heard: list[str] = []
    await listener.add_listener("incidents_outbox", lambda *args: heard.append(str(args)))  # the old channel
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await _enqueue(conn, "woken-1")
                assert not relay._wake.is_set(), "woken before the commit: the rows were not visible yet"
            assert not relay._wake.is_set(), "woken before the connection went back to the pool"
        assert relay._wake.is_set()
        runner = asyncio.create_task(relay.run())

        async def drained() -> bool:
            return await relay.pending() == 0

        await eventually(drained, timeout=30, interval=0.2)
        relay.stop()
        await runner
        await asyncio.sleep(0.2)
        assert heard == []  # nothing NOTIFYs any more
    finally:
        await listener.close()
        await producer.stop()
        await pool.close()


async def _empty_outbox_and_producer(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, *, pool_size: int = 10
) -> tuple[asyncpg.Pool, EventProducer]:
    """A pool on the migrated schema with an empty outbox, and a started producer."""
    await (await _prepare(database_url)).close()
    pool = await create_pool(database_url, SCHEMA, min_size=1, max_size=pool_size)
    await pool.execute("DELETE FROM outbox")
    producer = EventProducer(make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                                           database_url=database_url))
    await producer.start()
    return pool, producer


async def test_a_batch_costs_three_statements_whatever_its_size_and_goes_out_in_id_order(
    kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    """BEGIN, one claim-and-mark statement, COMMIT: not one statement per row, nor a SELECT then an UPDATE."""
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    # One connection: the relay gets the one whose statements are logged.
    pool, producer = await _empty_outbox_and_producer(kafka_bootstrap, topic_prefix, database_url, pool_size=1)
    queries: list[str] = []
    try:
        async with pool.acquire() as conn:
            for i in range(30):
                async with conn.transaction():
                    await _enqueue(conn, f"batched-{i:02d}")
            conn.add_query_logger(lambda q: queries.append(q.query))
        relay = OutboxRelay(pool, producer, schema=SCHEMA, poll_interval_s=3600)
        assert await relay.publish_pending() == 30
        await asyncio.sleep(0.05)  # asyncpg calls query loggers with call_soon
        assert len(queries) == 3, queries
        assert relay.batches == 1
        assert await relay.publish_pending() == 0
        assert await relay.pending() == 0
        records = await consume(settings, INCIDENT_EVENTS.name, count=30, timeout=30)
        keys = [r.key.decode() for r in records if r.key]
        assert sorted(keys) == [f"batched-{i:02d}" for i in range(30)]
        for partition in {r.partition for r in records}:
            in_partition = [r.key.decode() for r in records if r.partition == partition and r.key]
            assert in_partition == sorted(in_partition), "the outbox order is kept within a partition"
    finally:
        await producer.stop()
        await pool.close()


async def test_wakes_of_a_busy_interval_share_one_batch(
    kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    """Twenty commits, each waking the relay, while a drain is not due: one Kafka batch, not twenty."""
    pool, producer = await _empty_outbox_and_producer(kafka_bootstrap, topic_prefix, database_url)
    relay = OutboxRelay(pool, producer, schema=SCHEMA, poll_interval_s=3600, min_drain_interval_s=3.0)
    runner = asyncio.create_task(relay.run())
    try:
        for i in range(20):
            async with pool.acquire() as conn, conn.transaction():
                await _enqueue(conn, f"coalesced-{i}")

        async def all_published() -> bool:
            return relay.published == 20

        await eventually(all_published, timeout=60, interval=0.1)
        # The relay drained (nothing) at its start, so the first wake waits for the 3-s mark: one
        # batch, two or three if these commits took over 3 or 6 s; without coalescing every
        # commit's wake would drain a batch of its own.
        assert relay.batches <= 3, relay.batches
    finally:
        relay.stop()
        await runner
        await producer.stop()
        await pool.close()
