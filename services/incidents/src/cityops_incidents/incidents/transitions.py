"""The two changes both the api and the worker make to an incident: a status move and an escalation.

Both run inside the caller's transaction and write the incident, its timeline entry and its
IncidentEvent. The api (``service.py``, ``reopen.py``) and the worker (``reactions.py``) import them
from here; neither imports the other. ``escalate`` is written in ``intake.py`` (a report's
escalation goes through its batch's filing there) and only named here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import lifecycle
from cityops_incidents.incidents.changes import write_change
from cityops_incidents.incidents.convert import status_label
from cityops_incidents.incidents.intake import escalate
from cityops_incidents.incidents.models import Actor, Incident, TransitionIn
from cityops_incidents.rules import Rules


def utcnow() -> datetime:
    """The clock every change is stamped with (tests pass their own)."""
    return datetime.now(UTC)


async def apply_transition(
    conn: asyncpg.Connection, *, rules: Rules, inc: Incident, t: TransitionIn, actor: Actor, now: datetime
) -> str:
    """Apply an already-checked transition: status, milestone time, event and timeline."""
    before = inc.status
    inc.status = t.to_status
    milestone = lifecycle.REACHED_AT.get(t.to_status)
    if milestone and getattr(inc, milestone) is None:
        setattr(inc, milestone, now)
    if t.to_status == "DUPLICATE":
        inc.duplicate_of = t.duplicate_of
    body = pb.IncidentTransitioned(
        from_status=pb.Status.Value(f"STATUS_{before}"), to_status=pb.Status.Value(f"STATUS_{t.to_status}"),
        reason=t.reason, assignment_id=t.assignment_id, duplicate_of=t.duplicate_of,
    )
    return await write_change(conn, rules=rules, inc=inc, actor=actor, body=body, now=now,
                               before=status_label(before), after=status_label(t.to_status), detail=t.reason)


__all__ = ["apply_transition", "escalate", "utcnow"]
