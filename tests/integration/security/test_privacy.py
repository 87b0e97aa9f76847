"""Reporters' names and phone numbers never reach logs, Kafka events or traces.

A reporter with a distinctive name and phone files two reports (fused into one incident) and one
invalid report; then everything the process logged (every logger, at DEBUG, formatted by the
production JSON formatter WITHOUT the redaction filter, so this checks the code, not the safety
net), every record of every topic under the test's prefix (values, keys, headers) and every
exported span are searched for them. The masked forms ("09xx xxx 846") must be there, which shows the
scan really read the events.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.descriptor import Descriptor
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import bearer
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.logging import JsonFormatter
from cityops_platform.settings import Settings

NAME = "Trần Thị Bảo Mật Zeta"
PHONE = "0939271846"
NEEDLES = [NAME, "Bảo Mật Zeta", PHONE, "939271846", "939 271 846"]
MASKED = ("09xx xxx 846",)  # the two reports, as the events show them: first two and last three digits


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("privacy-test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record our formatter cannot write is not a leak; keep its raw text
            self.lines.append(repr(record.__dict__))


@pytest.fixture
def all_logs() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.clear()
    exporter.shutdown()  # the processor stays registered, but stores nothing more


def _report(key: str, phone: str, description: str) -> pb.ReportIncidentRequest:
    return pb.ReportIncidentRequest(
        category=pb.CATEGORY_FIELD_REPORT, source=pb.SOURCE_HOTLINE_1022, description=description,
        location=common_pb2.GeoPoint(lat=10.98012, lon=106.65518, address="Đại lộ Bình Dương"),
        reporter=pb.Reporter(name=NAME, phone=phone), idempotency_key=key,
    )


async def _every_record(settings: Settings) -> list[Any]:
    """Every record on every topic of the prefix, from the beginning to the current end."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, **client_kwargs(settings))
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.startswith(settings.topic_prefix)]
        consumer.subscribe(topics)  # without a group: every partition of these topics
        async with asyncio.timeout(30):
            while len({tp.topic for tp in consumer.assignment()}) < len(topics):
                await consumer.getmany(timeout_ms=100)
        tps: list[TopicPartition] = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < end[tp] for tp in tps]):
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for rs in batch.values() for r in rs)
        return records
    finally:
        await consumer.stop()


def _leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


def test_reporter_pii_never_reaches_logs_events_or_traces(  # type: ignore[no-untyped-def]
    host, figures, all_logs: Lines, spans: InMemorySpanExporter
) -> None:
    stub = host.apis["incidents"].stub
    settings = host.settings
    first = stub.ReportIncident(_report(str(uuid.uuid4()), PHONE, "Cây đổ chắn đường"),
                                metadata=bearer(settings, "call_taker"), timeout=10)
    second = stub.ReportIncident(_report(str(uuid.uuid4()), "+84 939 271 846", "Cây đổ chắn đường, xe kẹt"),
                                 metadata=bearer(settings, "call_taker"), timeout=10)
    with pytest.raises(grpc.RpcError) as refused:
        stub.ReportIncident(_report(str(uuid.uuid4()), PHONE + "999", "Cây đổ"),
                            metadata=bearer(settings, "call_taker"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    incident_id = first.incident.id
    assert second.incident.id == incident_id  # fused: the second report went down the attach path
    # The reads staff use: none of them carries the reporter.
    reads = [
        stub.GetIncident(pb.GetIncidentRequest(id=incident_id), metadata=bearer(settings, "supervisor"), timeout=10),
        stub.GetTimeline(pb.GetTimelineRequest(id=incident_id), metadata=bearer(settings, "supervisor"), timeout=10),
        stub.ListIncidents(pb.ListIncidentsRequest(), metadata=bearer(settings, "supervisor"), timeout=10),
    ]
    for reply in (first, second, *reads):
        assert not _leaks(reply.SerializeToString().decode("utf-8", "replace")), type(reply).__name__

    async def wait_and_read() -> list[Any]:
        # The outbox relay publishes after commit: wait until both reports' events are out.
        async with asyncio.timeout(30):
            while True:
                records = await _every_record(settings)
                mine = [r for r in records if r.topic.endswith(INCIDENT_EVENTS.name) and r.key == incident_id.encode()]
                if len(mine) >= 2:
                    return records
                await asyncio.sleep(0.3)

    records = host.run(wait_and_read())
    masked_seen = 0
    for r in records:
        blob = b"\x00".join([r.value or b"", r.key or b"", *(v for _, v in r.headers or ())])
        text = blob.decode("utf-8", "replace")
        assert not _leaks(text), f"PII in {r.topic}@{r.offset}: {_leaks(text)}"
        masked_seen += any(m in text for m in MASKED)
    assert masked_seen >= 2, "the reports' events (with the masked phone) were not among the records read"

    finished = spans.get_finished_spans()
    assert any(s.name.endswith("/ReportIncident") for s in finished), "no server span was exported"
    for s in finished:
        text = " ".join([s.name, repr(dict(s.attributes or {})), repr(s.status.description),
                         *(f"{e.name} {dict(e.attributes or {})!r}" for e in s.events)])
        assert not _leaks(text), f"PII in span {s.name}: {_leaks(text)}"

    assert len(all_logs.lines) > 0
    leaking = [line for line in all_logs.lines if _leaks(line)]
    assert not leaking, f"PII in {len(leaking)} log lines, e.g. {leaking[0][:500]}"
    figures.append(f"privacy: {len(all_logs.lines)} log lines, {len(records)} Kafka records, {len(finished)} spans "
                   "scanned; 0 leaks")


def _contains(descriptor: Descriptor, target: str, seen: set[str] | None = None) -> bool:
    seen = seen if seen is not None else set()
    if descriptor.full_name == target:
        return True
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    return any(f.message_type is not None and _contains(f.message_type, target, seen) for f in descriptor.fields)


def test_no_rpc_response_carries_the_reporter(host) -> None:  # type: ignore[no-untyped-def]
    """No read path returns reporter PII, so there is no PII read to audit; a new one must add auditing
    (and change this test)."""
    for api in host.apis.values():
        for method in api.descriptor.methods:
            assert not _contains(method.output_type, "cityops.incidents.v1.Reporter"), api.path(method)
            names = {f.name for f in method.output_type.fields}
            assert not names & {"reporter_phone", "reporter_name", "phone"}, api.path(method)
