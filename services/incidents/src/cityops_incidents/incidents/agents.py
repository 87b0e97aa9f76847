"""The incidents worker's agents and timers: decode → reactions.py → (outbox). Translation only.

``install`` declares them on the app: sensor alerts, dispatch events, the SLA sweep, the
open-incident gauges (incidents/metrics.py) and the expiry of idempotency keys (cityops_platform.db.request_keys)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import faust
from google.protobuf.message import Message

from cityops.dispatch.v1 import events_pb2 as dispatch_pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.incidents import metrics as incident_metrics
from cityops_incidents.incidents import reactions
from cityops_incidents.incidents.convert import AGENCY_CODES, agency_name, from_ts
from cityops_incidents.incidents.models import SYSTEM_ACTOR, Actor, DispatchEventIn, SensorAlertIn
from cityops_incidents.incidents.transitions import utcnow
from cityops_incidents.rules import Rules
from cityops_incidents.settings import IncidentsSettings
from cityops_platform.codecs import enum_name
from cityops_platform.db import request_keys
from cityops_platform.failures import count_and_log
from cityops_platform.faust_app import consume, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import DISPATCH_EVENTS, SENSOR_ALERTS
from cityops_platform.runtime import Resources

log = logging.getLogger("cityops.incidents.agents")
worker_log = logging.getLogger("cityops.incidents.worker")


_name = enum_name


def sensor_alert_in(m: sensors_pb.SensorAlert) -> SensorAlertIn:
    state = _name(sensors_pb.AlertState, "ALERT_STATE_", m.state)
    at_field = m.cleared_at if state == "CLEARED" and m.HasField("cleared_at") else m.raised_at
    at = from_ts(at_field if at_field.seconds or at_field.nanos else m.observed_at)
    return SensorAlertIn(
        event_id=m.event_id, alert_id=m.alert_id, sensor_id=m.sensor_id,
        kind=_name(sensors_pb.SensorKind, "SENSOR_KIND_", m.kind), state=state,
        level=_name(sensors_pb.AlertLevel, "ALERT_LEVEL_", m.level),
        rule_type=_name(sensors_pb.RuleType, "RULE_TYPE_", m.rule_type), value=m.value, threshold=m.threshold,
        unit=m.unit, sensor_name=m.sensor_name, lat=m.location.lat, lon=m.location.lon,
        address=m.location.address, at=at,
    )


def dispatch_event_in(m: dispatch_pb.DispatchEvent) -> DispatchEventIn:
    kind = m.WhichOneof("body") or ""
    actor = Actor(m.actor.subject, m.actor.role or "system") if m.actor.subject else SYSTEM_ACTOR
    if kind == "unit_assigned":
        agency = m.unit_assigned.agency_code or AGENCY_CODES.by_enum.get(agency_name(m.unit_assigned.agency), "")
    else:
        agency = m.unit.agency_code or AGENCY_CODES.by_enum.get(agency_name(m.unit.agency), "")
    return DispatchEventIn(
        event_id=m.event_id, incident_id=m.incident_id, assignment_id=m.assignment_id, kind=kind,
        call_sign=m.unit_assigned.call_sign if kind == "unit_assigned" else m.unit.call_sign,
        agency=agency, actor=actor, unit_id=m.unit_id,
        override_reason=m.unit_assigned.override_reason if kind == "unit_assigned" else "",
    )


async def on_sensor_alert(message: sensors_pb.SensorAlert, *, pool: asyncpg.Pool, rules: Rules) -> None:
    outcome = await reactions.sensor_alert(sensor_alert_in(message), pool=pool, rules=rules)
    log.info("sensor alert applied", extra={"alert_id": message.alert_id, "outcome": outcome})


async def on_dispatch_event(message: dispatch_pb.DispatchEvent, *, pool: asyncpg.Pool, rules: Rules) -> None:
    outcome = await reactions.dispatch_event(dispatch_event_in(message), pool=pool, rules=rules)
    log.debug("dispatch event applied", extra={"event_id": message.event_id, "outcome": outcome})


async def expire_request_keys(pool: asyncpg.Pool, own: IncidentsSettings,
                              clock: Callable[[], datetime] = utcnow) -> int:
    """One round of the key expiry: the keys older than the retention go, in bounded batches;
    counted in ``cityops_incidents_request_keys_expired_total``. Several workers may run it at once
    (SKIP LOCKED: each row is removed by one of them)."""
    removed = await request_keys.expire(
        pool, before=request_keys.expiry_cutoff(clock(), own.request_key_retention_days),
        batch=own.request_key_sweep_batch, max_batches=own.request_key_sweep_max_batches,
    )
    incident_metrics.REQUEST_KEYS_EXPIRED.inc(removed)
    return removed


def install(app: faust.App, res: Resources, own: IncidentsSettings, rules: Rules, *, topic_prefix: str) -> None:
    """Declare the worker's agents and timers on ``app``. The pool is taken at each call: it opens
    when the worker starts, after ``create_app`` returned."""
    alerts = raw_topic(app, SENSOR_ALERTS.full_name(topic_prefix))
    dispatch = raw_topic(app, DISPATCH_EVENTS.full_name(topic_prefix))
    dead_letters = faust_dead_letters(app)

    def follow(topic: faust.TopicT, name: str, message_type: type[Message],
               react: Callable[..., Awaitable[None]]) -> None:
        async def agent(stream: faust.StreamT[bytes]) -> None:
            async def handle(message: Any, _: Any) -> None:
                await react(message, pool=res.db, rules=rules)

            await consume(stream, decode=proto_decoder(message_type), handle=handle, dead_letters=dead_letters)

        app.agent(topic, name=name)(agent)

    follow(alerts, "incidents-sensor-alerts", sensors_pb.SensorAlert, on_sensor_alert)
    follow(dispatch, "incidents-dispatch-events", dispatch_pb.DispatchEvent, on_dispatch_event)

    @app.timer(own.sla_sweep_seconds, name="incidents-sla-sweep")  # type: ignore[untyped-decorator]
    async def sla_sweep() -> None:
        if res.pool is None:
            return
        try:
            escalated = await reactions.sweep_sla(pool=res.db, rules=rules, limit=own.sla_sweep_batch)
        except Exception as exc:  # the next tick retries; a dead timer would stop every escalation
            count_and_log("incidents_sla_sweep", worker_log, "SLA sweep failed; retrying next tick", exc)
            return
        if escalated:
            worker_log.info("SLA breaches escalated", extra={"count": escalated})

    @app.timer(own.request_key_sweep_seconds, name="incidents-request-key-expiry")  # type: ignore[untyped-decorator]
    async def request_key_expiry() -> None:
        if res.pool is None:
            return
        try:
            removed = await expire_request_keys(res.db, own)
        except Exception as exc:  # the next tick retries; the keys only wait a little longer
            count_and_log("incidents_request_key_expiry", worker_log, "request-key expiry failed; retrying next tick",
                          exc)
            return
        if removed:
            worker_log.info("expired idempotency keys removed", extra={"count": removed})

    @app.timer(incident_metrics.REFRESH_SECONDS, name="incidents-open-gauges")  # type: ignore[untyped-decorator]
    async def open_gauges() -> None:
        await incident_metrics.refresh_open_logged(res.pool)
