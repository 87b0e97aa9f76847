"""One groupless consumer of the alerts topic, from the latest offset, fanned out to every watcher.

Groupless: each api replica sees every alert and commits nothing. A slow watcher gets a bounded
queue; when it overflows the oldest alert is dropped for that watcher only (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform import metrics
from cityops_platform.errors import Unavailable
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import SENSOR_ALERTS
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.sensors.watch")


class AlertBroadcast:
    def __init__(self, settings: Settings, *, queue_size: int = 1000) -> None:
        self._settings = settings
        self._topic = f"{settings.topic_prefix}{SENSOR_ALERTS.name}"
        self._queues: set[asyncio.Queue[pb.SensorAlert]] = set()
        self._queue_size = queue_size
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._error: BaseException | None = None

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(**client_kwargs(self._settings), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="latest")
        await consumer.start()
        try:
            partitions = await self._partitions()
            consumer.assign([TopicPartition(self._topic, p) for p in partitions])  # groupless, no commits
            for tp in consumer.assignment():
                await consumer.position(tp)  # resolve "latest" now, so nothing after ready is missed
            self._ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batch.values():
                    for record in records:
                        try:
                            alert = pb.SensorAlert.FromString(record.value or b"")
                        except Exception:
                            metrics.ERRORS_SWALLOWED.labels("watch_alerts_decode").inc()
                            log.warning("undecodable alert skipped", extra={"offset": record.offset})
                            continue
                        self._fan_out(alert)
        except Exception as exc:
            self._error = exc
            raise
        finally:
            self._ready.set()
            await consumer.stop()

    async def _partitions(self) -> list[int]:
        """The alerts topic's partitions (waiting a little: a just-created topic takes a moment)."""
        admin = AIOKafkaAdminClient(**client_kwargs(self._settings))
        await admin.start()
        try:
            for _ in range(60):
                described = await admin.describe_topics([self._topic])
                found = [p["partition"] for t in described if t.get("error_code", 0) == 0
                         for p in t.get("partitions") or []]
                if found:
                    return sorted(found)
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
        raise ConnectionError(f"chủ đề không tồn tại (topic missing): {self._topic}")

    def _fan_out(self, alert: pb.SensorAlert) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                metrics.ERRORS_SWALLOWED.labels("watch_alerts_overflow").inc()
            queue.put_nowait(alert)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sensors-alert-broadcast")
        await self._ready.wait()
        if self._error is not None:
            error, self._error, self._task, self._ready = self._error, None, None, asyncio.Event()
            raise Unavailable(f"không đọc được luồng cảnh báo (alerts stream unavailable): {error}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def open(self) -> asyncio.Queue[pb.SensorAlert]:
        """A queue that receives every alert from now on (call ``close`` when done)."""
        await self.start()
        queue: asyncio.Queue[pb.SensorAlert] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        return queue

    def close(self, queue: asyncio.Queue[pb.SensorAlert]) -> None:
        self._queues.discard(queue)
