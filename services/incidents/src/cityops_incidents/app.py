"""``cityops worker incidents``: the Faust worker (consumer group ``cityops-incidents-worker``).

- ``cityops.sensors.alerts.v1`` → incidents from sensor alerts (create/merge, escalate, clears);
- ``cityops.dispatch.events.v1`` → status moves (UnitAssigned → DISPATCHED, UnitArrived → ON_SCENE);
- a timer every CITYOPS_INCIDENTS_SLA_SWEEP_SECONDS escalates SLA breaches;
- a timer refreshes the open-incident gauges from Postgres (incidents/metrics.py).

Changes leave through the outbox, published by the relay that ``attach_resources`` runs here.
Several workers may run: partitions are shared by the group, and the SLA sweep takes rows with
SKIP LOCKED, so each breach is escalated once.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from cityops.dispatch.v1 import events_pb2 as dispatch_pb
from cityops.sensors.v1 import events_pb2 as sensors_pb
from cityops_incidents.rules import load_rules
from cityops_incidents.settings import IncidentsSettings
from cityops_incidents.incidents import metrics as incident_metrics
from cityops_incidents.incidents.agents import on_dispatch_event, on_sensor_alert
from cityops_incidents.incidents.reactions import Reactions
from cityops_platform import faust_app
from cityops_platform.failures import count_and_log
from cityops_platform.faust_app import attach_resources, consume, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.kafka.topics import DISPATCH_EVENTS, SENSOR_ALERTS
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.incidents.worker")


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    own = IncidentsSettings()
    rules = load_rules(own.rules_file)
    overrides = ({"broker_session_timeout": own.worker_session_timeout_seconds}
                 if own.worker_session_timeout_seconds else {})
    app = faust_app.create_app("incidents", settings, web_port=web_port, **overrides)
    res = attach_resources(app, "incidents", settings)
    incident_metrics.install()
    holder: dict[str, Reactions] = {}

    def reactions() -> Reactions:
        # The pool opens when the worker starts, after this factory returns.
        if "r" not in holder:
            holder["r"] = Reactions(pool=res.db, rules=rules)
        return holder["r"]

    alerts = raw_topic(app, SENSOR_ALERTS.full_name(settings.topic_prefix))
    dispatch = raw_topic(app, DISPATCH_EVENTS.full_name(settings.topic_prefix))
    dead_letters = faust_dead_letters(app)

    @app.agent(alerts, name="incidents-sensor-alerts")
    async def sensor_alerts(stream: faust.StreamT[bytes]) -> None:
        async def handle(message: sensors_pb.SensorAlert, _: Any) -> None:
            await on_sensor_alert(reactions(), message)

        await consume(stream, decode=proto_decoder(sensors_pb.SensorAlert), handle=handle,
                      dead_letters=dead_letters)

    @app.agent(dispatch, name="incidents-dispatch-events")
    async def dispatch_events(stream: faust.StreamT[bytes]) -> None:
        async def handle(message: dispatch_pb.DispatchEvent, _: Any) -> None:
            await on_dispatch_event(reactions(), message)

        await consume(stream, decode=proto_decoder(dispatch_pb.DispatchEvent), handle=handle,
                      dead_letters=dead_letters)

    @app.timer(own.sla_sweep_seconds, name="incidents-sla-sweep")  # type: ignore[untyped-decorator]
    async def sla_sweep() -> None:
        if res.pool is None:
            return
        try:
            escalated = await reactions().sweep_sla(limit=own.sla_sweep_batch)
        except Exception as exc:  # the next tick retries; a dead timer would stop every escalation
            count_and_log("incidents_sla_sweep", log, "SLA sweep failed; retrying next tick", exc)
            return
        if escalated:
            log.info("SLA breaches escalated", extra={"count": escalated})

    @app.timer(incident_metrics.REFRESH_SECONDS, name="incidents-open-gauges")  # type: ignore[untyped-decorator]
    async def open_gauges() -> None:
        await incident_metrics.refresh_open_logged(res.pool)

    return app
