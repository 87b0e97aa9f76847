"""The guarded lifecycle: NEW → ACKNOWLEDGED → DISPATCHED → ON_SCENE → RESOLVED → CLOSED,
with CANCELLED and DUPLICATE as terminal side exits.

AWAITING_DOSSIER (chờ bổ sung hồ sơ) is a pause: an administrative procedure waits for the
citizen's dossier, its SLA clock stopped. It is entered from ACKNOWLEDGED, DISPATCHED or ON_SCENE
and left back to a status of the paused stage (the service checks the category and the stage),
or to CANCELLED when the citizen never completes the dossier.

A dispatch may precede the acknowledgement (high priorities are auto-dispatched), so NEW →
DISPATCHED is legal; everything not listed is refused with ``IllegalTransition``.
"""

from __future__ import annotations

from cityops_platform.errors import IllegalTransition

PAUSED_STATUS = "AWAITING_DOSSIER"
TRANSITIONS: dict[str, frozenset[str]] = {
    "NEW": frozenset({"ACKNOWLEDGED", "DISPATCHED", "CANCELLED", "DUPLICATE"}),
    "ACKNOWLEDGED": frozenset({"DISPATCHED", "RESOLVED", "CANCELLED", "DUPLICATE", PAUSED_STATUS}),
    "DISPATCHED": frozenset({"ON_SCENE", "RESOLVED", "CANCELLED", "DUPLICATE", PAUSED_STATUS}),
    "ON_SCENE": frozenset({"RESOLVED", PAUSED_STATUS}),
    PAUSED_STATUS: frozenset({"ACKNOWLEDGED", "DISPATCHED", "ON_SCENE", "CANCELLED"}),
    "RESOLVED": frozenset({"CLOSED"}),
    "CLOSED": frozenset(),
    "CANCELLED": frozenset(),
    "DUPLICATE": frozenset(),
}
# Stages of the SLA clock that run while the incident is in a status.
SLA_STAGE_BY_STATUS: dict[str, str] = {
    "NEW": "ACKNOWLEDGE",
    "ACKNOWLEDGED": "DISPATCH",
    "DISPATCHED": "RESOLVE",
    "ON_SCENE": "RESOLVE",
}
# The timestamp column each status sets when first entered.
REACHED_AT: dict[str, str] = {
    "ACKNOWLEDGED": "acknowledged_at",
    "DISPATCHED": "dispatched_at",
    "RESOLVED": "resolved_at",
    "CLOSED": "closed_at",
    "CANCELLED": "closed_at",
    "DUPLICATE": "closed_at",
}
REASON_REQUIRED = frozenset({"CANCELLED", "DUPLICATE", PAUSED_STATUS})  # the pause says what is missing


def is_legal(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check(from_status: str, to_status: str) -> None:
    """Raise ``IllegalTransition`` unless the machine allows ``from_status`` → ``to_status``."""
    if not is_legal(from_status, to_status):
        raise IllegalTransition("sự cố (incident)", from_status, to_status)


def sla_stage(status: str) -> str:
    """The SLA stage whose clock runs in ``status``; "" when none does."""
    return SLA_STAGE_BY_STATUS.get(status, "")
