"""The Faust app factory and the glue between Faust agents and ``RecordProcessor``.

Agents consume **raw bytes** and decode inside the processor's try/except: a Faust deserializer
error would otherwise stop the agent silently. Offsets are committed after the agent moves on,
so delivery is at least once and every handler must be idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import faust
from faust.serializers import codecs
from google.protobuf.message import Message

from cityops_platform import metrics
from cityops_platform.failures import count_and_log
from cityops_platform.kafka.client import faust_broker_url
from cityops_platform.kafka.deadletter import DeadLetters, RawRecord, RecordProcessor
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.faust")
M = TypeVar("M", bound=Message)
BROKER_PROBE_INTERVAL_S = 2.0
BROKER_PROBE_TIMEOUT_S = 3.0
BROKER_STALE_S = 7.0  # /healthz turns NOT_SERVING when no probe succeeded for this long
CONSUMER_LAG_INTERVAL_S = 5.0


class ProtobufCodec(codecs.Codec):
    """Faust codec for one protobuf message type (for sending: ``value_serializer=codec``)."""

    def __init__(self, message_type: type[Message], **kwargs: Any) -> None:
        self.message_type = message_type
        super().__init__(message_type=message_type, **kwargs)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        return bytes(obj.SerializeToString())

    def _loads(self, s: bytes) -> Any:
        message = self.message_type()
        message.ParseFromString(s)
        return message


def consumer_group(service: str, settings: Settings) -> str:
    """The Faust app id, which is also the Kafka consumer group: ``cityops-<service>-worker``."""
    return f"{settings.topic_prefix}cityops-{service}-worker"


def create_app(
    service: str, settings: Settings, *, web_port: int | None = None, **overrides: Any
) -> faust.App:
    """A Faust app with CityOps defaults: at-least-once, manual DLQ, state under ``data_dir``.

    With ``web_port`` the worker serves ``/metrics``, ``/livez`` and ``/readyz`` (``/healthz`` is the
    same as ``/readyz``) on it (Faust's own web server).
    """
    data_dir = Path(settings.data_dir) / f"{settings.topic_prefix}{service}"
    # Faust creates only the last level of its datadir.
    data_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": faust_broker_url(settings),
        "store": "memory://",
        "datadir": str(data_dir),
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_bind": settings.grpc_host,
        "web_in_thread": False,
        "topic_replication_factor": settings.kafka_replication_factor,
        "topic_partitions": 6,
        # Exactly-once is not used: it has open issues about duplicates and loss. Consumers are idempotent.
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_every": 500,
        "broker_commit_interval": 1.0,
        "stream_wait_empty": False,
        "table_cleanup_interval": 30.0,
    }
    if settings.kafka_security_protocol != "PLAINTEXT":
        options["broker_credentials"] = _faust_credentials(settings)
    options.update(overrides)
    app = faust.App(consumer_group(service, settings), **options)
    _install_lag(app)
    if web_port is not None:
        _install_web(app)
    return app


def _install_lag(app: faust.App) -> None:
    reported: set[tuple[str, str, str]] = set()

    @app.timer(CONSUMER_LAG_INTERVAL_S, name="cityops-consumer-lag")  # type: ignore[untyped-decorator]
    async def consumer_lag() -> None:
        try:
            record_consumer_lag(app, reported)
        except Exception as exc:  # a metric must never stop the worker
            count_and_log("consumer_lag", log, "consumer lag not measured", exc)


def record_consumer_lag(app: faust.App, reported: set[tuple[str, str, str]]) -> dict[tuple[str, int], int]:
    """Set ``cityops_consumer_lag`` for every partition assigned to this worker; returns it.

    Lag is the partition's high watermark (as the fetcher last saw it) minus the group's committed
    offset. Partitions this worker no longer holds (after a rebalance) are removed, so the sum over
    workers counts each partition once.
    """
    group = str(app.conf.id)
    consumer = app.consumer
    committed = getattr(consumer, "_committed_offset", {})
    lags: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        high: int | None = consumer.highwater(tp)  # None until the fetcher has seen the partition
        if high is None:
            continue
        done = committed.get(tp) or 0
        lags[(tp.topic, tp.partition)] = max(0, int(high) - int(done))
    current = set()
    for (topic, partition), lag in lags.items():
        labels = (group, topic, str(partition))
        metrics.CONSUMER_LAG.labels(*labels).set(lag)
        current.add(labels)
    for labels in reported - current:
        metrics.CONSUMER_LAG.remove(*labels)
    reported.clear()
    reported.update(current)
    return lags


def _install_web(app: faust.App) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    # A worker cut off from the broker still looks "started" to Faust; the probe makes /healthz
    # say so (NOT_SERVING), and SERVING again once a metadata request gets through.
    probe: dict[str, float | None] = {"last_ok": None}

    @app.timer(BROKER_PROBE_INTERVAL_S, name="cityops-broker-probe")  # type: ignore[untyped-decorator]
    async def probe_broker() -> None:
        if await broker_reachable(app, within=BROKER_PROBE_TIMEOUT_S):
            probe["last_ok"] = time.monotonic()

    # Readiness: started, not stopping, and the broker answered recently. Kubernetes takes an unready
    # worker out of nothing (it has no Service traffic) but shows it; it must never restart it for that.
    async def ready_page(web: Any, request: Any) -> Any:
        last_ok = probe["last_ok"]
        age = None if last_ok is None else time.monotonic() - last_ok
        broker_ok = age is not None and age < BROKER_STALE_S
        healthy = bool(app.started) and not app.should_stop and broker_ok
        body = {"status": "SERVING" if healthy else "NOT_SERVING",
                "broker": "reachable" if broker_ok else "unreachable",
                "broker_last_ok_seconds_ago": None if age is None else round(age, 1)}
        return web.json(body, status=200 if healthy else 503)

    app.page("/readyz", name="readyz")(ready_page)
    app.page("/healthz", name="healthz")(ready_page)

    # Liveness: the process and its event loop answer and the app has not crashed. The broker is
    # deliberately not part of it: a Kafka outage must not restart every worker (nothing is cured by it).
    @app.page("/livez")
    async def live_page(web: Any, request: Any) -> Any:
        crashed = bool(app.crashed)
        body = {"status": "NOT_SERVING" if crashed else "SERVING", "crashed": crashed}
        return web.json(body, status=503 if crashed else 200)


async def broker_reachable(app: faust.App, *, within: float) -> bool:
    """True when the app's producer client gets a Metadata answer from a broker ``within`` seconds."""
    producer = getattr(app.producer, "_producer", None)  # the aiokafka producer, on this event loop
    client = getattr(producer, "client", None)
    if client is None:
        return False
    try:
        await asyncio.wait_for(client.fetch_all_metadata(), within)
    except asyncio.CancelledError:
        raise
    except Exception:  # timeouts, refused connections, KafkaError: all mean "not reachable now"
        return False
    return True


def _faust_credentials(settings: Settings) -> Any:
    import ssl

    from faust.auth import SASLCredentials, SSLCredentials

    uses_tls = "SSL" in settings.kafka_security_protocol
    context = ssl.create_default_context(cafile=settings.kafka_ca_file) if uses_tls else None
    if settings.kafka_security_protocol.startswith("SASL"):
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism or "SCRAM-SHA-512",
            ssl_context=context,
        )
    return SSLCredentials(context)


def faust_dead_letters(app: faust.App) -> DeadLetters:
    """Dead letters sent through the app's own producer."""

    async def send(topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        await app.producer.send_and_wait(topic, key, value, partition=None, timestamp=None, headers=headers)

    return DeadLetters(send)


def raw_topic(app: faust.App, name: str, **kwargs: Any) -> faust.TopicT:
    """A topic whose keys and values are bytes, so decoding happens where errors are handled."""
    return app.topic(name, key_serializer="raw", value_serializer="raw", **kwargs)


def proto_decoder(message_type: type[M]) -> Callable[[bytes], M]:
    def decode(raw: bytes) -> M:
        message = message_type()
        message.ParseFromString(raw)
        return message

    return decode


def _processor(stream: faust.StreamT[Any], decode: Callable[[bytes], M],
               handle: Callable[[M, Any], Awaitable[None]], dead_letters: DeadLetters) -> RecordProcessor[M]:
    app = getattr(stream, "app", None)
    group = str(app.conf.id) if app is not None else None
    return RecordProcessor(decode=decode, handle=handle, dead_letters=dead_letters, group=group)


def _raw_record(event: Any) -> RawRecord:
    message = event.message
    return RawRecord(topic=message.topic, partition=message.partition, offset=message.offset,
                     key=message.key if isinstance(message.key, bytes) else None, value=event.value,
                     headers=list(message.headers or []), event=event)


async def consume(
    stream: faust.StreamT[Any],
    *,
    decode: Callable[[bytes], M],
    handle: Callable[[M, Any], Awaitable[None]],
    dead_letters: DeadLetters,
) -> None:
    """The body of a CityOps agent: ``async for`` over events → decode → handle, never dying on one."""
    processor = _processor(stream, decode, handle, dead_letters)
    async for event in stream.events():
        record = _raw_record(event)
        await processor.process(topic=record.topic, partition=record.partition, offset=record.offset,
                                key=record.key, value=record.value, headers=record.headers, event=event)


BATCH_MAX_RECORDS = 500
BATCH_WITHIN_S = 0.01


async def consume_batches(
    stream: faust.StreamT[Any],
    *,
    decode: Callable[[bytes], M],
    handle: Callable[[M, Any], Awaitable[None]],
    batchable: Callable[[M], bool],
    handle_many: Callable[[Sequence[tuple[M, Any]]], Awaitable[None]],
    dead_letters: DeadLetters,
    max_records: int = BATCH_MAX_RECORDS,
    within_s: float = BATCH_WITHIN_S,
) -> None:
    """``consume`` over batches: the events that arrived within ``within_s`` (at most
    ``max_records``) are processed in order by ``RecordProcessor.process_many``, runs of
    ``batchable`` messages in one ``handle_many`` call (``(message, event)`` pairs). The batch's
    events are acked only after all of it was handled (``noack_take`` + ``ack``; Faust's
    ``take_events`` would ack them even when the body is cancelled half-way), so delivery stays
    at least once. An idle stream wakes once per ``within_s``; a busy one adds at most
    ``within_s`` to an event's latency."""
    processor = _processor(stream, decode, handle, dead_letters)
    async for events in stream.noack_take(max_records, within=within_s):  # type: ignore[attr-defined]
        await processor.process_many([_raw_record(event) for event in events], batchable=batchable,
                                     handle_many=handle_many)
        for event in events:
            await stream.ack(event)


def attach_resources(
    app: faust.App, service: str, settings: Settings, *, database: bool = True, relay: bool = True
) -> Any:
    """Give a worker the same Postgres pool, producer and outbox relay as the api.

    Returns the ``Resources`` object; its ``pool``/``producer`` are open between the worker's
    start and stop (agents run in between, so they may use them freely).
    """
    import contextlib

    from mode import Service

    from cityops_platform.runtime import Resources, service_resources

    holder = Resources(service=service, settings=settings)

    class WorkerResources(Service):
        _stack: contextlib.AsyncExitStack | None = None

        async def on_start(self) -> None:
            self._stack = contextlib.AsyncExitStack()
            res = await self._stack.enter_async_context(
                service_resources(service, settings, database=database, relay=relay)
            )
            holder.pool, holder.producer, holder.tasks = res.pool, res.producer, res.tasks

        async def on_stop(self) -> None:
            if self._stack is not None:
                await self._stack.aclose()

    app.service(WorkerResources)
    return holder
