"""A durable event producer: acks=all and idempotence, so an acknowledged send is on the broker.

Every record gets a PRODUCER span (``send <topic>``, messaging semantic conventions) whose context
replaces the record's ``traceparent``; the span ends when the broker acknowledges the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.headers import EVENT_ID, header_value
from cityops_platform.settings import Settings
from cityops_platform.tracing import start_send_span


def _finish(span: trace.Span, result: Any = None, error: BaseException | None = None) -> None:
    if error is not None:
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    elif result is not None:
        span.set_attribute("messaging.destination.partition.id", str(result.partition))
        span.set_attribute("messaging.kafka.offset", result.offset)
    span.end()


class EventProducer:
    """Sends records and waits for the broker's acknowledgement from every in-sync replica."""

    def __init__(self, settings: Settings, *, linger_ms: int = 2, client_id: str = "cityops") -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            **client_kwargs(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=1024 * 1024,
            max_request_size=8 * 1024 * 1024,
            request_timeout_ms=15000,
            client_id=client_id,
        )

    @property
    def prefix(self) -> str:
        return self._settings.topic_prefix

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        partition: int | None = None,
        prefixed: bool = False,
    ) -> None:
        """Send one record and wait for acks=all. ``topic`` is a catalog name unless ``prefixed``."""
        name = topic if prefixed else f"{self.prefix}{topic}"
        span, traced = start_send_span(name, key, headers, message_id=header_value(headers, EVENT_ID))
        try:
            result = await self._producer.send_and_wait(
                name, value=value, key=key, headers=traced, partition=partition
            )
        except BaseException as exc:
            _finish(span, error=exc)
            raise
        _finish(span, result)

    async def send_many(
        self, records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Send (topic, key, value, headers) records pipelined, then wait for all acks in order."""
        pending: list[tuple[trace.Span, asyncio.Future[Any]]] = []
        try:
            for topic, key, value, headers in records:
                name = f"{self.prefix}{topic}"
                span, traced = start_send_span(name, key, headers, message_id=header_value(headers, EVENT_ID))
                try:
                    future = await self._producer.send(name, value=value, key=key, headers=traced)
                except BaseException as exc:
                    _finish(span, error=exc)
                    raise
                pending.append((span, future))
            while pending:
                span, future = pending[0]
                try:
                    result = await future
                except BaseException as exc:
                    _finish(span, error=exc)
                    pending.pop(0)
                    raise
                _finish(span, result)
                pending.pop(0)
        finally:
            for span, _ in pending:  # not acknowledged: the caller retries, the span says so
                _finish(span, error=ConnectionError("not acknowledged"))

    async def partitions_for(self, topic: str) -> list[int]:
        parts = await self._producer.partitions_for(f"{self.prefix}{topic}")
        return sorted(parts)
