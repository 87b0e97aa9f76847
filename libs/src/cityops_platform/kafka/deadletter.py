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
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from cityops_platform import metrics, tracing
from cityops_platform.grpc.status import is_infrastructure_error
from cityops_platform.kafka import headers as h
from cityops_platform.tracing import extract_context, messaging_attributes

log = logging.getLogger("cityops.stream")
_tracer = trace.get_tracer("cityops.stream")
T = TypeVar("T")

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
        raw = value if isinstance(value, bytes | bytearray) else b""
        try:
            if value is None or not isinstance(value, bytes | bytearray):
                raise ValueError(f"record value is {type(value).__name__}, expected bytes")
            message = self._decode(bytes(value))
        except Exception as exc:
            await self._dlq.publish(topic=topic, partition=partition, offset=offset, key=key,
                                    value=bytes(raw), headers=headers, reason="decode", error=exc)
            metrics.EVENTS_CONSUMED.labels(topic, "dead_letter").inc()
            return False
        attempt = 0
        # A CONSUMER span per record, child of the producer's span carried in ``traceparent``: the
        # one span no instrumentation makes (Faust hands records to agents after polling them).
        traced = tracing.enabled()
        attributes = messaging_attributes("process", topic, partition=partition, offset=offset, key=key,
                                          message_id=h.header_value(headers, h.EVENT_ID),
                                          group=self._group) if traced else None
        while True:
            token = otel_context.attach(extract_context(headers)) if traced else None  # type: ignore[arg-type]
            try:
                if attributes is None:
                    await self._handle(message, event)
                else:
                    with _tracer.start_as_current_span(f"process {topic}", kind=trace.SpanKind.CONSUMER,
                                                       attributes=attributes):
                        await self._handle(message, event)
                metrics.EVENTS_CONSUMED.labels(topic, "ok").inc()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_infrastructure_error(exc):
                    attempt += 1
                    delay = min(self._max_backoff, 0.2 * 2**attempt) * (0.5 + random.random() / 2)
                    metrics.ERRORS_SWALLOWED.labels("stream_retry").inc()
                    log.warning("transient failure, retrying record",
                                extra={"topic": topic, "offset": offset, "attempt": attempt,
                                       "delay_s": round(delay, 2), "error": repr(exc)[:300]})
                    await asyncio.sleep(delay)
                    continue
                await self._dlq.publish(topic=topic, partition=partition, offset=offset, key=key,
                                        value=bytes(raw), headers=headers, reason="handler", error=exc)
                metrics.EVENTS_CONSUMED.labels(topic, "dead_letter").inc()
                return False
            finally:
                if token is not None:
                    otel_context.detach(token)
