"""A Faust agent on the real broker: protobuf events flow through; poison goes to the DLQ."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from cityops.incidents.v1 import events_pb2
from cityops_devtools.testing import consume, make_settings
from cityops_platform.kafka import headers as h
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.kafka.topics import TopicSpec

pytestmark = pytest.mark.integration
APP = Path(__file__).with_name("echo_app.py")
IN_TOPIC, OUT_TOPIC = "test.echo.in.v1", "test.echo.out.v1"
# Truncated length-delimited field: not a valid protobuf message.
MALFORMED = b"\x0a\xff\x01garbage"


@pytest.fixture
def worker(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "CITYOPS_KAFKA_BOOTSTRAP": kafka_bootstrap, "CITYOPS_TOPIC_PREFIX": topic_prefix,
           "CITYOPS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(APP.parent)}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - held open for the worker's lifetime
    proc = subprocess.Popen([sys.executable, str(APP), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


async def test_protobuf_event_flows_through_agent_and_poison_goes_to_dlq(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, worker: subprocess.Popen[bytes]
) -> None:
    settings = make_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, database_url=database_url)
    await apply_topics(settings, specs=[TopicSpec(IN_TOPIC, 3, 3_600_000), TopicSpec(OUT_TOPIC, 3, 3_600_000),
                                        TopicSpec(IN_TOPIC + ".dlq", 1, 3_600_000)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    good_before = [f"before-{i}" for i in range(20)]
    good_after = [f"after-{i}" for i in range(200)]
    topic = f"{topic_prefix}{IN_TOPIC}"
    for ident in good_before:
        await producer.send_and_wait(topic, events_pb2.IncidentEvent(incident_id=ident).SerializeToString(),
                                     key=ident.encode())
    # Both poison records go to partition 0, ahead of good records on the same partition.
    await producer.send_and_wait(topic, MALFORMED, key=b"poison-1", partition=0)
    await producer.send_and_wait(
        topic, events_pb2.IncidentEvent(incident_id="poison-2", incident_number="RAISE").SerializeToString(),
        key=b"poison-2", partition=0,
    )
    for ident in good_after:
        await producer.send_and_wait(topic, events_pb2.IncidentEvent(incident_id=ident).SerializeToString(),
                                     key=ident.encode(), partition=0 if ident.endswith("0") else None)
    await producer.stop()

    expected = set(good_before + good_after)
    out = await consume(settings, OUT_TOPIC, count=len(expected), timeout=90)
    received = set()
    for record in out:
        event = events_pb2.IncidentEvent()
        event.ParseFromString(record.value)
        received.add(event.incident_id)
    assert received == expected, f"missing: {sorted(expected - received)[:5]}"

    dead = await consume(settings, IN_TOPIC + ".dlq", count=2, timeout=30)
    by_key = {r.key: dict(r.headers) for r in dead}
    assert set(by_key) == {b"poison-1", b"poison-2"}
    assert by_key[b"poison-1"][h.DLQ_REASON] == b"decode"
    assert by_key[b"poison-2"][h.DLQ_REASON] == b"handler"
    for headers in by_key.values():
        assert headers[h.DLQ_TOPIC] == topic.encode()
        assert headers[h.DLQ_PARTITION] == b"0"
        assert int(headers[h.DLQ_OFFSET]) >= 0
        assert headers[h.DLQ_ERROR]
    assert worker.poll() is None, "the worker must still be running after the poison records"
