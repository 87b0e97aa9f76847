"""The two changes both the api and the worker make to an incident: a status move and an escalation.

Both run inside the caller's transaction and write the incident, its timeline entry and its
IncidentEvent (``changes.write_change``). The api (``service.py``, ``intake.py``, ``reopen.py``) and
the worker (``reactions.py``) import them from here; neither imports the other.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import lifecycle
from cityops_incidents.incidents.changes import write_change
from cityops_incidents.incidents.convert import priority_label, status_label
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


async def escalate(
    conn: asyncpg.Connection, *, rules: Rules, inc: Incident, actor: Actor, now: datetime, new_priority: int,
    reason: str, detail: str = "", breached_due_at: datetime | None = None, sla_stage: str = "",
) -> str:
    """Raise the priority (it may stay at P1), count the escalation and emit IncidentEscalated."""
    old = inc.priority
    inc.priority = min(old, new_priority)
    inc.escalation_level += 1
    body = pb.IncidentEscalated(
        reason=pb.EscalationReason.Value(f"ESCALATION_REASON_{reason}"), old_priority=pb.Priority.ValueType(old),
        new_priority=pb.Priority.ValueType(inc.priority), escalation_level=inc.escalation_level,
        sla_stage=pb.SlaStage.Value(f"SLA_STAGE_{sla_stage}") if sla_stage else pb.SLA_STAGE_UNSPECIFIED,
    )
    if breached_due_at is not None:
        body.breached_due_at.FromDatetime(breached_due_at)
    return await write_change(conn, rules=rules, inc=inc, actor=actor, body=body, now=now,
                               before=priority_label(old), after=priority_label(inc.priority),
                               detail=f"Nâng mức ưu tiên ({reason}): {detail}".rstrip(": "))
