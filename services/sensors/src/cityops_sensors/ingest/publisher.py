"""Publishes ReadingRecords: one Kafka record per partition per batch, acks=all, idempotent.

Its own producer (not the shared EventProducer) because the hot path needs the send future
without waiting, so several batches can be in flight while their acks come back.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.headers import event_headers
from cityops_platform.kafka.topics import SENSOR_READINGS
from cityops_platform.settings import Settings
from cityops_sensors.ingest.models import bucket_key
from cityops_sensors.ingest.service import Columns


class ReadingPublisher:
    def __init__(self, settings: Settings) -> None:
        self.topic = f"{settings.topic_prefix}{SENSOR_READINGS.name}"
        self._producer = AIOKafkaProducer(
            **client_kwargs(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=1024 * 1024,
            max_request_size=16 * 1024 * 1024,
            request_timeout_ms=15000,
            client_id="cityops-sensors-ingest",
        )
        self.partitions = 0

    async def start(self) -> None:
        await self._producer.start()
        self.partitions = len(await self._producer.partitions_for(self.topic))

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(
        self, groups: dict[int, Columns], ingested_ms: int
    ) -> list[tuple[asyncio.Future[object], Columns]]:
        """Hand one record per partition to the producer; returns (ack future, its readings)."""
        sent: list[tuple[asyncio.Future[object], Columns]] = []
        for partition, cols in groups.items():
            batch_id = uuid.uuid4().hex
            record = pb.ReadingRecord(
                sensor_ids=cols[0], values=cols[1], observed_at_ms=cols[2],
                ingested_at_ms=[ingested_ms] * len(cols[0]), batch_id=batch_id,
            )
            future = await self._producer.send(
                self.topic, value=record.SerializeToString(), key=bucket_key(partition), partition=partition,
                headers=event_headers(batch_id, "ReadingRecord", "sensors"),
            )
            sent.append((future, cols))
        return sent
