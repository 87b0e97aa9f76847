"""Assignments (a unit sent to an incident) and slots (what an incident needs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from cityops_platform.codecs import Actor as Actor  # re-exported: the one Actor
from cityops_platform.errors import PreconditionFailed


class AssignmentStatus(IntEnum):
    """Values equal ``cityops.dispatch.v1.AssignmentStatus``."""

    ASSIGNED = 1
    ACKNOWLEDGED = 2
    EN_ROUTE = 3
    ON_SCENE = 4
    CLEARED = 5
    DECLINED = 6
    TIMED_OUT = 7
    CANCELLED = 8


ACTIVE = frozenset(
    {AssignmentStatus.ASSIGNED, AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SCENE}
)


class AssignmentExpired(PreconditionFailed):
    """The acknowledgement came after the deadline; the assignment is being moved on."""

    def __init__(self, assignment_id: str) -> None:
        super().__init__(
            f"Phân công '{assignment_id}' đã quá hạn xác nhận (acknowledgement deadline passed)"
        )


SYSTEM_ACTOR = Actor("system:dispatch", "system")


@dataclass
class Assignment:
    id: str
    incident_id: str
    slot_id: str | None
    unit_id: str
    status: AssignmentStatus
    capability: str
    run_card: str
    attempt: int
    auto: bool
    distance_m: float
    eta_seconds: float
    reason: str
    call_sign: str
    incident_number: str
    assigned_by_subject: str
    assigned_by_role: str
    replaces_assignment_id: str | None
    assigned_at: datetime
    ack_deadline: datetime
    acknowledged_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    override_reason: str = ""  # set when a dispatcher chose this unit over the recommended one
    recommended_unit_id: str = ""  # the recommended unit passed over

    @property
    def override(self) -> bool:
        return bool(self.override_reason)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class Slot:
    id: str
    incident_id: str
    capability: str
    run_card: str
    status: str  # OPEN, FILLED, DONE, CANCELLED
    assignment_id: str | None
    attempts: int
    auto: bool
    waiting_since: datetime | None
