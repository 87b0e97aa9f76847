"""Faust agents: incident, dispatch and sensor-alert events → notices → deliveries (fan-out), and
the sender loop that sends them (``DeliverySender``, a Faust task).

An SLA breach on the incident stream also goes to the supervisor on duty (``roster.breach``),
whatever the subscriptions say.

Each handler decodes, translates and calls ``service.fan_out`` inside one transaction, so the
processed-event mark and the deliveries commit together: a crash before the commit means the record
is processed again; after it, the redelivered record creates nothing. An event no active subscription
can match (checked against the in-memory copy, ``subscriptions.cache``, complete for the record's
Kafka timestamp) and with no follower to record needs no transaction at all.

Under load the events that arrived together (``consume_batches``: within 10 ms, at most 500) fan
out in ONE transaction, each still marked processed with its own deliveries; one BEGIN/COMMIT (and
one WAL flush) for the batch instead of one per event. A batch that fails for another reason than
the database is handled again one event at a time, so a poison event stays alone and goes to the
dead-letter topic. SLA escalations, which may page the supervisor on duty, are always handled alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import faust
from google.protobuf.message import Message

from cityops.dispatch.v1 import events_pb2 as dispatch_events
from cityops.incidents.v1 import events_pb2 as incident_events
from cityops.sensors.v1 import events_pb2 as sensor_events
from cityops_notifications.channels import build_channels
from cityops_notifications.deliveries.sender import DeliverySender
from cityops_notifications.deliveries.service import fan_out, fan_out_many, needs_work
from cityops_notifications.notices import translate
from cityops_notifications.notices.models import Notice
from cityops_notifications.rendering import Renderer
from cityops_notifications.roster import breach
from cityops_notifications.roster.models import Roster
from cityops_notifications.roster.service import load_roster
from cityops_notifications.secretbox import SecretBox
from cityops_notifications.settings import NotificationsSettings
from cityops_notifications.subscriptions.cache import ActiveSubscriptions, could_match
from cityops_platform.faust_app import consume_batches, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS, SENSOR_ALERTS
from cityops_platform.runtime import Resources

M = TypeVar("M", bound=Message)


def _handler(
    res: Resources, settings: NotificationsSettings, to_notice: Callable[[M, str], Notice | None], topic: str,
    active: ActiveSubscriptions, on_created: Callable[[], None], roster: Roster | None = None,
) -> Callable[[M, Any], Awaitable[None]]:
    async def handle(event: M, record: Any) -> None:
        notice = to_notice(event, topic)
        if notice is None or not notice.event_id:
            return
        if roster is not None and breach.is_breach(notice):
            # The supervisor on duty, subscribed or not; its own transaction and dedupe mark.
            async with res.db.acquire() as conn, conn.transaction():
                queued = await breach.notify_on_duty(conn, notice, roster=roster,
                                                     max_attempts=settings.notify_max_attempts)
            if queued:
                on_created()
        candidates = could_match(await active.current(res.db, published_at(record)), notice)
        if not needs_work(notice, candidates):
            return
        async with res.db.acquire() as conn, conn.transaction():
            created = await fan_out(conn, notice, max_attempts=settings.notify_max_attempts, candidates=candidates)
        if created:
            on_created()  # committed: the sender need not wait for its next poll

    return handle


def _batch_handler(
    res: Resources, settings: NotificationsSettings, to_notice: Callable[[M, str], Notice | None], topic: str,
    active: ActiveSubscriptions, on_created: Callable[[], None],
) -> Callable[[Sequence[tuple[M, Any]]], Awaitable[None]]:
    """``handle`` of many events (none of them a possible SLA breach) in one transaction, a few
    statements for all of them (``fan_out_many``)."""

    async def handle_many(pairs: Sequence[tuple[M, Any]]) -> None:
        notices = [(n, record) for event, record in pairs
                   if (n := to_notice(event, topic)) is not None and n.event_id]
        if not notices:
            return
        # Complete for the latest record of the batch, so for every earlier one too.
        stamps = [t for _, record in notices if (t := published_at(record)) is not None]
        subscriptions = await active.current(res.db, max(stamps) if len(stamps) == len(notices) else None)
        work = [(n, c) for n, _ in notices if needs_work(n, c := could_match(subscriptions, n))]
        if not work:
            return
        async with res.db.acquire() as conn, conn.transaction():
            created = await fan_out_many(conn, work, max_attempts=settings.notify_max_attempts)
        if created:
            on_created()

    return handle_many


def _batchable(topic: str) -> Callable[[Message], bool]:
    """Events that may go in a batch: on the incident stream, not an escalation (a possible SLA breach)."""
    if topic != INCIDENT_EVENTS.name:
        return lambda _event: True
    return lambda event: event.WhichOneof("body") != "escalated"


def published_at(record: Any) -> float | None:
    """The Kafka record timestamp (epoch seconds) of the Faust event ``record``, if it has one."""
    timestamp = getattr(getattr(record, "message", None), "timestamp", None)
    return float(timestamp) if isinstance(timestamp, int | float) and timestamp > 0 else None


def install(app: faust.App, res: Resources, settings: NotificationsSettings) -> None:
    """Declare the three fan-out agents and the sender loop on ``app``; deliveries the agents commit
    wake the sender at once instead of at its next poll."""
    created = asyncio.Event()
    _install_fan_out(app, res, settings, on_created=created.set)

    @app.task  # type: ignore[untyped-decorator]
    async def send_deliveries() -> None:
        await res.wait_open()  # the pool opens in a service started alongside the agents
        channels = build_channels(settings)
        sender = DeliverySender(pool=res.pool, channels=channels, box=SecretBox(settings.fernet_key()),
                                renderer=Renderer(timezone=settings.timezone, sms_max_parts=settings.sms_max_parts),
                                settings=settings, wakeup=created)
        stopping = asyncio.Event()
        try:
            await sender.run(stopping)
        finally:
            stopping.set()
            for channel in channels.values():
                await channel.close()


def _install_fan_out(app: faust.App, res: Resources, settings: NotificationsSettings, *,
                     on_created: Callable[[], None]) -> None:
    """The three fan-out agents; ``on_created`` runs after deliveries were committed."""
    dead_letters = faust_dead_letters(app)
    prefix = settings.topic_prefix
    sources: list[tuple[str, type[Message], Callable[[Any, str], Notice | None]]] = [
        (INCIDENT_EVENTS.name, incident_events.IncidentEvent, translate.from_incident_event),
        (DISPATCH_EVENTS.name, dispatch_events.DispatchEvent, translate.from_dispatch_event),
        (SENSOR_ALERTS.name, sensor_events.SensorAlert, translate.from_sensor_alert),
    ]
    active = ActiveSubscriptions(check_interval_s=settings.notify_subscription_check_ms / 1000,
                                 clock_skew_s=settings.notify_clock_skew_ms / 1000)
    roster = load_roster(settings.notify_roster_file)  # a bad roster fails the start, not the first breach
    for name, message_type, to_notice in sources:
        handle = _handler(res, settings, to_notice, name, active, on_created,
                          roster=roster if name == INCIDENT_EVENTS.name else None)
        handle_many = _batch_handler(res, settings, to_notice, name, active, on_created)
        decode = proto_decoder(message_type)
        batchable = _batchable(name)

        async def agent(stream: faust.StreamT[Any], *, _decode: Any = decode, _handle: Any = handle,
                        _many: Any = handle_many, _batch: Any = batchable) -> None:
            await consume_batches(stream, decode=_decode, handle=_handle, batchable=_batch,
                                  handle_many=_many, dead_letters=dead_letters,
                                  within_s=settings.stream_batch_ms / 1000)

        app.agent(raw_topic(app, f"{prefix}{name}"), name=f"notifications.fanout.{name}")(agent)
