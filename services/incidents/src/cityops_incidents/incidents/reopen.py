"""ReopenIncident: the reporter or an operator says a RESOLVED incident is not fixed
("chưa xử lý xong"). Within the rules' reopen window it goes back to ACKNOWLEDGED with the same
agency, one priority step more urgent (an IncidentEscalated with reason REOPENED), audited twice:
IncidentReopened, then IncidentEscalated."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import lifecycle, report_store, store
from cityops_incidents.incidents.changes import write_change
from cityops_incidents.incidents.convert import status_label, ts
from cityops_incidents.incidents.models import Actor, Incident, ReopenIn
from cityops_incidents.incidents.transitions import escalate
from cityops_incidents.incidents.triage import raise_priority
from cityops_incidents.incidents.validation import check_expected_version, check_required_text, check_uuid
from cityops_incidents.rules import Rules
from cityops_platform.errors import (
    FieldViolation,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StaleVersion,
    require,
)

STAFF_ROLES = frozenset({"operator", "supervisor", "admin"})


async def reopen_in_tx(
    conn: asyncpg.Connection, *, rules: Rules, o: ReopenIn, actor: Actor, roles: frozenset[str], now: datetime
) -> Incident:
    """Reopen ``o.incident_id``; a citizen must be one of its reporters. Call inside a transaction."""
    inc = await store.get(conn, o.incident_id, for_update=True)
    if inc is None:
        raise NotFound("incident", o.incident_id)
    if roles.isdisjoint(STAFF_ROLES) and not await report_store.is_reporter(conn, inc.id, actor.subject):
        raise PermissionDenied("Chỉ người phản ánh hoặc điều hành viên được mở lại sự cố "
                               "(only the reporter or an operator may reopen)")
    if o.expected_version != inc.version:
        raise StaleVersion(o.expected_version, inc.version)
    if inc.status != lifecycle.REOPEN_FROM:
        raise IllegalTransition("sự cố (incident)", inc.status, f"{lifecycle.REOPEN_TO} (reopen)")
    resolved_at = inc.resolved_at or inc.updated_at
    window = rules.lifecycle.reopen_window
    if now - resolved_at > window:
        hours = window.total_seconds() / 3600
        raise PreconditionFailed(f"Đã quá {hours:g} giờ kể từ khi giải quyết; không mở lại được, hãy tạo phản ánh "
                                 f"mới (the {hours:g} h reopen window after resolution has passed)")
    before = inc.status
    inc.status = lifecycle.REOPEN_TO
    inc.resolved_at = None  # the next resolution sets it again
    inc.reopen_count += 1
    body = pb.IncidentReopened(
        reason=o.reason, from_status=pb.Status.Value(f"STATUS_{before}"),
        to_status=pb.Status.Value(f"STATUS_{inc.status}"), reopen_count=inc.reopen_count, resolved_at=ts(resolved_at),
    )
    await write_change(conn, rules=rules, inc=inc, actor=actor, body=body, now=now, before=status_label(before),
                        after=status_label(inc.status),
                        detail=f"Mở lại lần {inc.reopen_count}, giao lại {inc.agency}: {o.reason} (reopened)")
    await escalate(conn, rules=rules, inc=inc, actor=actor, now=now, new_priority=raise_priority(inc.priority),
                   reason="REOPENED", detail=f"mở lại sau khi giải quyết: {o.reason}")
    return inc


def validate_reopen(rules: Rules, o: ReopenIn) -> None:
    out: list[FieldViolation] = []
    check_uuid(out, "id", o.incident_id)
    check_required_text(out, "reason", o.reason, rules.limit("reason"))
    check_expected_version(out, o.expected_version)
    require(out)
