"""One Kafka consumer for the whole gateway, fanned out to every connected screen.

The consumer has no group (every gateway replica sees every event) and starts at the end of each
partition: screens load the current state over the JSON API and then follow changes live.
A screen that cannot keep up is told to resync rather than slowing the others down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from cityops_gateway.events.decode import STREAMS, Stream, UndecodableRecord, decode_record
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.metrics import ERRORS_SWALLOWED
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.gateway.events")

SSE_CLIENTS = Gauge("cityops_gateway_sse_clients", "Screens connected to /api/events")
EVENTS_FANNED_OUT = Counter("cityops_gateway_events_total", "Events read from Kafka for the screens", ["kind"])
RESYNCS = Counter("cityops_gateway_sse_resyncs_total", "Screens told to resync because they fell behind")

RESYNC: dict[str, Any] = {"kind": "resync", "type": "Resync", "data": {}}


class Subscription:
    """One screen's queue of events."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=size)

    def offer(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Dropping silently would leave a stale screen; a resync makes it reload the state.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)
            RESYNCS.inc()


class EventHub:
    """Reads the event topics once and hands every decoded event to every subscriber."""

    def __init__(self, settings: Settings, *, queue_size: int = 1000) -> None:
        self._settings = settings
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._by_topic: dict[str, Stream] = {s.spec.full_name(settings.topic_prefix): s for s in STREAMS}
        self.ready = asyncio.Event()

    def subscribe(self) -> Subscription:
        sub = Subscription(self._queue_size)
        self._subscribers.add(sub)
        SSE_CLIENTS.set(len(self._subscribers))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        SSE_CLIENTS.set(len(self._subscribers))

    def publish(self, event: dict[str, Any]) -> None:
        EVENTS_FANNED_OUT.labels(event["kind"]).inc()
        for sub in list(self._subscribers):
            sub.offer(event)

    def close_subscribers(self, sentinel: dict[str, Any]) -> None:
        """Tell every open stream to end (shutdown), so the server can drain promptly."""
        for sub in list(self._subscribers):
            while sub.queue.full():
                sub.queue.get_nowait()
            sub.queue.put_nowait(sentinel)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                self.ready.clear()
                ERRORS_SWALLOWED.labels("gateway_event_hub").inc()
                log.warning("event consumer failed; retrying", extra={"error": repr(exc), "backoff": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            *self._by_topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="cityops-gateway-events",
            metadata_max_age_ms=5000,
            fetch_max_wait_ms=100,  # screens want events now, not in bigger batches
            **client_kwargs(self._settings),
        )
        await consumer.start()
        try:
            await self._await_assignment(consumer)
            await consumer.seek_to_end()
            # Resolve every position now, so an event produced after `ready` is never skipped.
            for tp in consumer.assignment():
                await consumer.position(tp)
            self.ready.set()
            log.info("following event topics", extra={"topics": sorted(self._by_topic)})
            async for record in consumer:
                stream = self._by_topic.get(record.topic)
                if stream is None:
                    continue
                try:
                    event = decode_record(stream, record.key, record.value)
                except UndecodableRecord as exc:
                    ERRORS_SWALLOWED.labels("gateway_event_decode").inc()
                    log.warning("undecodable event skipped", extra={"topic": record.topic, "error": str(exc)})
                    continue
                event["id"] = f"{record.topic}:{record.partition}:{record.offset}"
                self.publish(event)
        finally:
            self.ready.clear()
            await consumer.stop()

    async def _await_assignment(self, consumer: AIOKafkaConsumer) -> None:
        """Wait until every followed topic exists and all its partitions are assigned to us."""
        warned = False
        while True:
            assigned = {tp.topic for tp in consumer.assignment()}
            missing = sorted(set(self._by_topic) - assigned)
            if not missing:
                return
            if not warned:
                log.warning("event topics not assigned yet; waiting", extra={"topics": missing})
                warned = True
            await asyncio.sleep(0.2)
