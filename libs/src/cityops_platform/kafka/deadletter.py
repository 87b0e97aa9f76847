"""Dead letters and the agent loop that never stops on a bad record.

A record that cannot be decoded, or whose handler raises a non-transient error, is copied to
``<topic>.dlq`` with headers naming the error and its origin (topic, partition, offset), and the
stream goes on. A transient failure (database or broker down) is retried with backoff instead,
because dead-lettering a good record would lose it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace

from cityops_platform import metrics, tracing
from cityops_platform.failures import count_and_log
from cityops_platform.grpc.status import is_infrastructure_error
from cityops_platform.kafka import headers as h
from cityops_platform.tracing import extract_context, messaging_attributes

log = logging.getLogger("cityops.stream")
_tracer = trace.get_tracer("cityops.stream")
T = TypeVar("T")
_DEAD = object()  # what decoding returns for a record it dead-lettered

SendFn = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[None]]


class DeadLetters:
    """Publishes failed records to ``<source topic>.dlq`` (the source name already carries any prefix)."""

    def __init__(self, send: SendFn) -> None:
        self._send = send

    async def publish(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        reason: str,
        error: BaseException,
    ) -> None:
        dlq_headers = [
            *headers,
            (h.DLQ_REASON, reason.encode()),
            (h.DLQ_ERROR, f"{type(error).__name__}: {error}"[:2000].encode()),
            (h.DLQ_TOPIC, topic.encode()),
            (h.DLQ_PARTITION, str(partition).encode()),
            (h.DLQ_OFFSET, str(offset).encode()),
        ]
        if not tracing.enabled():
            await self._send(f"{topic}.dlq", key, value, dlq_headers)
        else:
            # The producer instrumentation adds the DLQ send's own traceparent, in the record's trace.
            parent, dlq_headers = tracing.split_trace_headers(dlq_headers)
            token = otel_context.attach(parent) if parent is not None else None  # type: ignore[arg-type]
            try:
                await self._send(f"{topic}.dlq", key, value, dlq_headers)
            finally:
                if token is not None:
                    otel_context.detach(token)
        metrics.DEAD_LETTERS.labels(topic, reason).inc()
        log.warning(
            "record dead-lettered",
            extra={"topic": topic, "partition": partition, "offset": offset, "reason": reason,
                   "error": repr(error)[:500]},
        )


@dataclass(frozen=True)
class RawRecord:
    """One consumed record as the processor sees it (``event``: the Faust event, for handlers)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    event: Any = None


class RecordProcessor(Generic[T]):
    """decode → handle, with dead letters for poison and retries for transient failures.

    ``decode`` turns raw bytes into a message; ``handle`` applies it (idempotently: a record may be
    seen again after a crash, since offsets are committed after processing).
    """

    def __init__(
        self,
        *,
        decode: Callable[[bytes], T],
        handle: Callable[[T, Any], Awaitable[None]],
        dead_letters: DeadLetters,
        max_backoff_s: float = 10.0,
        group: str | None = None,
    ) -> None:
        self._group = group
        self._decode = decode
        self._handle = handle
        self._dlq = dead_letters
        self._max_backoff = max_backoff_s

    async def process(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        event: Any = None,
    ) -> bool:
        """Process one record. Returns True when handled, False when dead-lettered."""
        record = RawRecord(topic, partition, offset, key, value, headers, event)
        decoded = await self._decode_or_dead_letter(record)
        if decoded is _DEAD:
            return False
        return await self._handle_one(record, cast(T, decoded))

    async def process_many(
        self,
        records: Sequence[RawRecord],
        *,
        batchable: Callable[[T], bool],
        handle_many: Callable[[Sequence[tuple[T, Any]]], Awaitable[None]],
    ) -> None:
        """Process ``records`` in order; consecutive ``batchable`` messages are handled together by
        ``handle_many`` (one call, so one statement or transaction for the run), which gets
        ``(message, event)`` pairs, the same two things ``handle`` gets for one record. A run that fails
        with a non-transient error is handled again one record at a time, so only the poison record
        goes to the DLQ. ``handle_many`` must be all-or-nothing and idempotent, like ``handle``.
        With tracing on every record is handled alone, inside its own CONSUMER span."""
        run: list[tuple[RawRecord, T]] = []
        traced = tracing.enabled()
        for record in records:
            decoded = await self._decode_or_dead_letter(record)
            if decoded is _DEAD:
                continue
            message = cast(T, decoded)
            if not traced and batchable(message):
                run.append((record, message))
                continue
            await self._handle_run(run, handle_many)
            run = []
            await self._handle_one(record, message)
        await self._handle_run(run, handle_many)

    async def _handle_run(
        self, run: Sequence[tuple[RawRecord, T]], handle_many: Callable[[Sequence[tuple[T, Any]]], Awaitable[None]]
    ) -> None:
        if len(run) == 1:
            await self._handle_one(*run[0])
            return
        if not run:
            return
        first = run[0][0]
        try:
            await self._retrying(first, lambda: handle_many([(message, record.event) for record, message in run]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            count_and_log("stream_batch_fallback", log, "batch failed; handling its records one by one", exc,
                          topic=first.topic, offset=first.offset, records=len(run))
            for record, message in run:
                await self._handle_one(record, message)
            return
        for record, _ in run:
            metrics.EVENTS_CONSUMED.labels(record.topic, "ok").inc()

    async def _decode_or_dead_letter(self, record: RawRecord) -> T | object:
        value = record.value
        try:
            if value is None or not isinstance(value, bytes | bytearray):
                raise ValueError(f"record value is {type(value).__name__}, expected bytes")
            return self._decode(bytes(value))
        except Exception as exc:
            await self._dead_letter(record, "decode", exc)
            return _DEAD

    async def _dead_letter(self, record: RawRecord, reason: str, exc: BaseException) -> None:
        raw = record.value if isinstance(record.value, bytes | bytearray) else b""
        await self._dlq.publish(topic=record.topic, partition=record.partition, offset=record.offset,
                                key=record.key, value=bytes(raw), headers=record.headers, reason=reason, error=exc)
        metrics.EVENTS_CONSUMED.labels(record.topic, "dead_letter").inc()

    async def _retrying(self, record: RawRecord, work: Callable[[], Awaitable[None]]) -> None:
        """``work()`` until it succeeds or fails with a non-transient error (raised)."""
        attempt = 0
        while True:
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                attempt += 1
                delay = min(self._max_backoff, 0.2 * 2**attempt) * (0.5 + random.random() / 2)
                metrics.ERRORS_SWALLOWED.labels("stream_retry").inc()
                log.warning("transient failure, retrying record",
                            extra={"topic": record.topic, "offset": record.offset, "attempt": attempt,
                                   "delay_s": round(delay, 2), "error": repr(exc)[:300]})
                await asyncio.sleep(delay)

    async def _handle_one(self, record: RawRecord, message: T) -> bool:
        # A CONSUMER span per record, child of the producer's span carried in ``traceparent``: the
        # one span no instrumentation makes (Faust hands records to agents after polling them).
        traced = tracing.enabled()
        topic, headers = record.topic, record.headers
        attributes = messaging_attributes("process", topic, partition=record.partition, offset=record.offset,
                                          key=record.key, message_id=h.header_value(headers, h.EVENT_ID),
                                          group=self._group) if traced else None

        async def work() -> None:
            token = otel_context.attach(extract_context(headers)) if traced else None  # type: ignore[arg-type]
            try:
                if attributes is None:
                    await self._handle(message, record.event)
                else:
                    with _tracer.start_as_current_span(f"process {topic}", kind=trace.SpanKind.CONSUMER,
                                                       attributes=attributes):
                        await self._handle(message, record.event)
            finally:
                if token is not None:
                    otel_context.detach(token)

        try:
            await self._retrying(record, work)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._dead_letter(record, "handler", exc)
            return False
        metrics.EVENTS_CONSUMED.labels(topic, "ok").inc()
        return True
