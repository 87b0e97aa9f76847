"""A durable event producer: acks=all and idempotence, so an acknowledged send is on the broker."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

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
        await self._producer.send_and_wait(
            name, value=value, key=key, headers=list(headers), partition=partition
        )

    async def send_many(
        self, records: Sequence[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        """Send (topic, key, value, headers) records pipelined, then wait for all acks in order."""
        futures = [
            await self._producer.send(f"{self.prefix}{topic}", value=value, key=key, headers=list(headers))
            for topic, key, value, headers in records
        ]
        for future in futures:
            await future

    async def partitions_for(self, topic: str) -> list[int]:
        parts = await self._producer.partitions_for(f"{self.prefix}{topic}")
        return sorted(parts)
