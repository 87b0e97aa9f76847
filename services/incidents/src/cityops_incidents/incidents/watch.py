"""Live incident events for WatchIncidents.

Each stream owns an aiokafka consumer **without a group**, positioned at the end of every
partition of ``cityops.incidents.events.v1``. Why Kafka and not Postgres LISTEN: the topic already
carries every change (from the api and the worker, through the outbox) as the full IncidentEvent
that every other consumer sees, so the screens get exactly what the rest of the city gets, with no
payload limit and no polling of the outbox; no group means no rebalancing between screens, and
each screen starts "from now". The cost is one broker connection per open stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from google.protobuf.message import DecodeError

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_platform import metrics
from cityops_platform.errors import Unavailable
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import INCIDENT_EVENTS
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.incidents.watch")


class IncidentWatch:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.topic = INCIDENT_EVENTS.full_name(settings.topic_prefix)

    async def events(self, *, ready: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[pb.IncidentEvent]:
        """Every IncidentEvent published after the stream is positioned; ``ready`` is awaited once
        the positions are fixed (the servicer sends the response headers then, so a client that
        waits for them misses nothing published afterwards)."""
        consumer = AIOKafkaConsumer(**client_kwargs(self._settings), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="latest", client_id="cityops-incidents-watch")
        await consumer.start()
        try:
            # Without a group, a subscription is assigned every partition once metadata arrives.
            consumer.subscribe([self.topic])
            deadline = asyncio.get_running_loop().time() + self._settings.rpc_timeout_seconds
            while not consumer.assignment():
                if asyncio.get_running_loop().time() > deadline:
                    raise Unavailable(f"chủ đề {self.topic} chưa sẵn sàng (topic has no partitions yet)")
                await asyncio.sleep(0.05)
            assigned = sorted(consumer.assignment())
            await consumer.seek_to_end(*assigned)
            for tp in assigned:
                await consumer.position(tp)
            if ready is not None:
                await ready()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batch.values():
                    for record in records:
                        event = pb.IncidentEvent()
                        try:
                            event.ParseFromString(record.value or b"")
                        except DecodeError as exc:
                            metrics.ERRORS_SWALLOWED.labels("incidents_watch_decode").inc()
                            log.warning("undecodable incident event skipped",
                                        extra={"offset": record.offset, "error": repr(exc)[:200]})
                            continue
                        yield event
        finally:
            await consumer.stop()
