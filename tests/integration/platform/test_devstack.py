"""The devstack starts real servers that behave like real servers: data flows and survives crashes."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.devstack.kafka import metadata_broker_count


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, value, key=key, headers=[("event-type", b"DevstackChecked")])
        return int(metadata.offset)
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        return [(record.key, record.value) for records in batches.values() for record in records]
    finally:
        await consumer.stop()


async def test_broker_delivers_a_produced_record_to_a_consumer(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}cityops.devstack.check.v1"
    await _create_topic(kafka_bootstrap, topic)
    value = "Ngập đường Đại lộ Bình Dương".encode()

    offset = await _produce(kafka_bootstrap, topic, b"sensor-1", value)

    assert offset == 0
    assert await _consume_all(kafka_bootstrap, topic) == [(b"sensor-1", value)]


def test_broker_answers_metadata_with_itself(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.port is not None
    assert metadata_broker_count("127.0.0.1", kafka_broker.port) == 1


async def test_broker_keeps_acknowledged_record_after_kill_and_restart(
    isolated_kafka_broker: KafkaBroker,
) -> None:
    # A broker of its own: crashing the session broker would disturb other tests.
    broker = isolated_kafka_broker
    port = broker.port
    topic = "cityops.devstack.crash.v1"
    await _create_topic(broker.bootstrap, topic)
    await _produce(broker.bootstrap, topic, b"k", b"acknowledged before the crash")

    broker.kill()
    assert not broker.is_running
    broker.restart()

    assert broker.port == port
    assert await _consume_all(broker.bootstrap, topic) == [(b"k", b"acknowledged before the crash")]


async def test_postgres_answers_queries_as_the_cityops_role(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT 1 + 1 AS two, current_user AS who, current_setting('fsync') AS fsync")
    finally:
        await conn.close()
    assert row is not None
    assert (row["two"], row["who"], row["fsync"]) == (2, "cityops", "on")


async def test_each_test_gets_an_empty_database_of_its_own(database_url: str, postgres_server: PostgresServer) -> None:
    assert database_url != postgres_server.dsn
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        await conn.execute("CREATE TABLE only_here (id int)")
    finally:
        await conn.close()
    assert tables == []

    other = await asyncpg.connect(postgres_server.dsn)
    try:
        leaked = await other.fetchval("SELECT to_regclass('public.only_here')")
    finally:
        await other.close()
    assert leaked is None


async def test_postgres_keeps_committed_row_after_kill_and_restart(
    isolated_postgres_server: PostgresServer,
) -> None:
    server = isolated_postgres_server
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute("CREATE TABLE reports (id text PRIMARY KEY)")
        await conn.execute("INSERT INTO reports VALUES ('báo cáo 1022')")
    finally:
        await conn.close()

    server.kill()
    assert not server.is_running
    server.restart()

    conn = await asyncpg.connect(server.dsn)
    try:
        ids = await conn.fetch("SELECT id FROM reports")
    finally:
        await conn.close()
    assert [r["id"] for r in ids] == ["báo cáo 1022"]
