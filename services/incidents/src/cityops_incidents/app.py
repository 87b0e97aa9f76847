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

import faust

from cityops_incidents.incidents import agents
from cityops_incidents.incidents import metrics as incident_metrics
from cityops_incidents.rules import load_rules
from cityops_incidents.settings import IncidentsSettings
from cityops_platform import faust_app
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.incidents.worker")


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    own = IncidentsSettings()
    rules = load_rules(own.rules_file)
    overrides = ({"broker_session_timeout": own.worker_session_timeout_seconds}
                 if own.worker_session_timeout_seconds else {})
    app = faust_app.create_app("incidents", settings, web_port=web_port, **overrides)
    res = faust_app.attach_resources(app, "incidents", settings)
    incident_metrics.install()
    agents.install(app, res, own, rules, topic_prefix=settings.topic_prefix)
    return app
