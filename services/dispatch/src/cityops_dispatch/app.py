"""``cityops worker dispatch``: the dispatch Faust worker (consumer group ``cityops-dispatch-worker``).

- reads ``cityops.incidents.events.v1`` into dispatch's incident view and auto-dispatches;
- times out unacknowledged assignments and retries incidents waiting for units;
- keeps a board of every unit from the compacted ``cityops.dispatch.unit-status.v1``;
- conveys the EIDO of every changed incident to the configured partner CADs (``eido.agents``).
"""

from __future__ import annotations

import faust

from cityops_dispatch.assignments import agents as assignment_agents
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.eido import agents as eido_agents
from cityops_dispatch.incidents_view import agents as incident_agents
from cityops_dispatch.rules import load_rules
from cityops_dispatch.settings import DispatchSettings
from cityops_dispatch.units.board import UnitBoard
from cityops_platform import faust_app
from cityops_platform.settings import Settings


def create_app(settings: Settings, *, web_port: int | None = None) -> faust.App:
    dispatch = DispatchSettings()
    # Seconds matter: a crashed worker's partitions move to a live one after 10 s, not Faust's 60 s.
    app = faust_app.create_app(
        "dispatch", settings, web_port=web_port, broker_session_timeout=10.0, broker_heartbeat_interval=1.0
    )
    res = faust_app.attach_resources(app, "dispatch", settings)
    dispatcher = AssignmentEngine(
        rules=load_rules(dispatch), ack_timeout_s=dispatch.ack_timeout_seconds,
        max_radius_m=dispatch.max_search_radius_m,
    )
    board = UnitBoard()
    incident_agents.install(app, res, dispatcher, concurrency=dispatch.agent_concurrency)
    sweeper = assignment_agents.Sweeper(
        res=res, dispatcher=dispatcher, board=board, retry_interval_s=dispatch.retry_interval_seconds,
        key_retention_days=dispatch.request_key_retention_days,
    )
    assignment_agents.install(app, sweeper, dispatch.timer_interval_seconds)

    conveyor = eido_agents.create_conveyor(res, dispatch)
    if conveyor is not None:
        eido_agents.install(app, res, conveyor)

    @app.task  # type: ignore[untyped-decorator]
    async def follow_unit_board() -> None:
        await board.run(settings)

    return app
