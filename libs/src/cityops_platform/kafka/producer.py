"""A durable event producer: acks=all and idempotence, so an acknowledged send is on the broker.

When tracing is on, the PRODUCER span of each record is the aiokafka instrumentation's
(``<topic> send``, messaging semantic conventions), and it puts its own ``traceparent`` on the
record. Its parent is the context the record's headers carried (an outbox row keeps the context
of the request that wrote it), so the stored ``traceparent`` is taken off and made current for the
``send`` call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import context as otel_context

from cityops_platform import tracing
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.settings import Settings


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
        if not tracing.enabled():
            await self._producer.send_and_wait(name, value=value, key=key, headers=list(headers), partition=partition)
            return
        parent, rest = tracing.split_trace_headers(headers)
        token = otel_context.attach(parent) if parent is not None else None  # type: ignore[arg-type]
        try:
            future = await self._producer.send(name, value=value, key=key, headers=rest, partition=partition)
        finally:
            if token is not None:
                otel_context.detach(token)
        await future

    async def send_many(
        self, records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Send (topic, key, value, headers) records pipelined, then wait for all acks in order."""
        pending: list[asyncio.Future[Any]] = []
        traced = tracing.enabled()
        for topic, key, value, headers in records:
            name = f"{self.prefix}{topic}"
            if not traced:
                pending.append(await self._producer.send(name, value=value, key=key, headers=list(headers)))
                continue
            parent, rest = tracing.split_trace_headers(headers)
            token = otel_context.attach(parent) if parent is not None else None  # type: ignore[arg-type]
            try:
                pending.append(await self._producer.send(name, value=value, key=key, headers=rest))
            finally:
                if token is not None:
                    otel_context.detach(token)
        # In order; the first failure raises and the caller retries the batch (consumers de-duplicate).
        for future in pending:
            await future

    async def partitions_for(self, topic: str) -> list[int]:
        parts = await self._producer.partitions_for(f"{self.prefix}{topic}")
        return sorted(parts)
