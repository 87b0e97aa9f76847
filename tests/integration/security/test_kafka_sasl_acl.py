"""Kafka SASL/SCRAM-SHA-512 with per-service ACLs, on a real broker of its own.

The broker (KafkaBroker(sasl_admin=...)) has a SASL_PLAINTEXT listener and the StandardAuthorizer
(deny when no ACL matches). The ACLs are the ones a deployment declares, written with Kafka's own
kafka-acls tool (org.apache.kafka.tools.AclCommand). The clients are the production ones
(EventProducer, client_kwargs, apply_topics) configured only through Settings, as
CITYOPS_KAFKA_SECURITY_PROTOCOL / _SASL_MECHANISM / _SASL_USERNAME / _SASL_PASSWORD would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from cityops_platform.devstack import DevstackUnavailable, KafkaBroker
from cityops_platform.devstack.jars import ensure_kafka_jars
from cityops_platform.devstack.kafka import find_java
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.producer import EventProducer
from cityops_platform.kafka.topics import INCIDENT_EVENTS, NOTIFICATION_DELIVERIES
from cityops_platform.settings import Settings

ADMIN = ("cityops-admin", "admin-secret-0123456789")
USERS = {"svc-incidents": "incidents-secret-0123456789", "svc-notifications": "notifications-secret-0123456789"}
PREFIX = "sec."


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-sasl"), sasl_admin=ADMIN, scram_users=USERS)
    try:
        broker.start()
    except DevstackUnavailable as exc:
        import os

        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Kafka unavailable: {exc}")
        pytest.skip(f"Kafka unavailable: {exc}")
    yield broker
    broker.stop()


def _settings(broker: KafkaBroker, user: str, password: str) -> Settings:
    return Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=PREFIX, kafka_security_protocol="SASL_PLAINTEXT",
                    kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=user, kafka_sasl_password=password)


async def _acl(broker: KafkaBroker, config: Path, *args: str) -> None:
    """kafka-acls --bootstrap-server ... --command-config admin.properties --add ..."""
    proc = await asyncio.create_subprocess_exec(
        find_java(), "-Xmx128m", "-cp", f"{ensure_kafka_jars()}/*", "org.apache.kafka.tools.AclCommand",
        "--bootstrap-server", broker.bootstrap, "--command-config", str(config), "--add", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def acls(sasl_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> KafkaBroker:
    """The catalog's topics (created by the admin) and each service's grants."""
    config = tmp_path_factory.mktemp("acl") / "admin.properties"
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN[0]}" password="{ADMIN[1]}";\n'
    )
    incidents_topic = f"{PREFIX}{INCIDENT_EVENTS.name}"
    deliveries_topic = f"{PREFIX}{NOTIFICATION_DELIVERIES.name}"

    async def setup() -> None:
        await apply_topics(_settings(sasl_broker, *ADMIN))
        await asyncio.gather(
            _acl(sasl_broker, config, "--allow-principal", "User:svc-incidents", "--producer",
                 "--topic", incidents_topic),
            _acl(sasl_broker, config, "--allow-principal", "User:svc-notifications", "--consumer",
                 "--topic", incidents_topic, "--group", f"{PREFIX}notifications"),
            _acl(sasl_broker, config, "--allow-principal", "User:svc-notifications", "--producer",
                 "--topic", deliveries_topic),
        )

    asyncio.run(setup())
    return sasl_broker


async def test_incidents_principal_can_produce_incident_events(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-incidents", USERS["svc-incidents"]), client_id="cityops-incidents")
    await producer.start()
    try:
        await producer.send(INCIDENT_EVENTS.name, b"incident-reported", key=b"inc-1")
    finally:
        await producer.stop()


async def test_notifications_principal_cannot_produce_to_the_incidents_topic(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-notifications", USERS["svc-notifications"]),
                             client_id="cityops-notifications")
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send(INCIDENT_EVENTS.name, b"forged", key=b"inc-1"), 30)
        # Its own topic is open to it: the refusal above is the ACL, not a broken login.
        await producer.send(NOTIFICATION_DELIVERIES.name, b"delivery", key=b"d-1")
    finally:
        await producer.stop()


async def test_notifications_principal_consumes_incident_events_in_its_group(acls: KafkaBroker) -> None:
    settings = _settings(acls, "svc-notifications", USERS["svc-notifications"])
    marker = uuid.uuid4().hex.encode()
    producer = EventProducer(_settings(acls, "svc-incidents", USERS["svc-incidents"]))
    await producer.start()
    try:
        await producer.send(INCIDENT_EVENTS.name, marker, key=b"inc-2")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{PREFIX}{INCIDENT_EVENTS.name}", group_id=f"{PREFIX}notifications",
                                auto_offset_reset="earliest", enable_auto_commit=False, **client_kwargs(settings))
    await consumer.start()
    try:
        seen: list[bytes] = []
        async with asyncio.timeout(30):
            while marker not in seen:
                batch = await consumer.getmany(timeout_ms=500)
                seen.extend(r.value for records in batch.values() for r in records)
    finally:
        await consumer.stop()


async def test_a_wrong_password_is_refused(acls: KafkaBroker) -> None:
    producer = EventProducer(_settings(acls, "svc-incidents", "not-the-password"))
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), 30)
    await producer.stop()


async def test_the_incidents_principal_cannot_read_what_it_was_not_granted(acls: KafkaBroker) -> None:
    settings = _settings(acls, "svc-incidents", USERS["svc-incidents"])
    consumer = AIOKafkaConsumer(f"{PREFIX}{NOTIFICATION_DELIVERIES.name}", group_id=None,
                                auto_offset_reset="earliest", **client_kwargs(settings))
    with pytest.raises(TopicAuthorizationFailedError):
        await asyncio.wait_for(_start_and_read(consumer), 30)


async def _start_and_read(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.start()
        while True:
            await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()
