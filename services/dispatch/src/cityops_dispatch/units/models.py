"""Units and their guarded status machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from cityops_platform.errors import IllegalTransition, PreconditionFailed


class UnitStatus(IntEnum):
    """Values equal ``cityops.dispatch.v1.UnitStatus``."""

    AVAILABLE = 1
    DISPATCHED = 2
    EN_ROUTE = 3
    ON_SCENE = 4
    RETURNING = 5
    OUT_OF_SERVICE = 6


S = UnitStatus
# Moves the machine allows at all. DISPATCHED is entered only through an assignment, and the
# moves back to AVAILABLE from DISPATCHED/EN_ROUTE only through a decline, timeout or cancel.
TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.AVAILABLE: frozenset({S.DISPATCHED, S.OUT_OF_SERVICE}),
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.ON_SCENE, S.AVAILABLE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.AVAILABLE}),
    S.ON_SCENE: frozenset({S.RETURNING, S.AVAILABLE}),
    S.RETURNING: frozenset({S.AVAILABLE, S.OUT_OF_SERVICE, S.DISPATCHED}),
    S.OUT_OF_SERVICE: frozenset({S.AVAILABLE}),
}
# What a field unit or dispatcher may ask for through UpdateUnitStatus.
REQUESTABLE: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.AVAILABLE: frozenset({S.OUT_OF_SERVICE}),
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.ON_SCENE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE}),
    S.ON_SCENE: frozenset({S.RETURNING, S.AVAILABLE}),
    S.RETURNING: frozenset({S.AVAILABLE, S.OUT_OF_SERVICE}),
    S.OUT_OF_SERVICE: frozenset({S.AVAILABLE}),
}
# Statuses a dispatcher may assign from (RETURNING units have cleared and may be re-dispatched).
ASSIGNABLE = frozenset({S.AVAILABLE, S.RETURNING})


class UnitUnavailable(PreconditionFailed):
    """The unit cannot take an assignment now (busy, out of service): FAILED_PRECONDITION."""

    def __init__(self, unit_id: str, status: UnitStatus | str) -> None:
        name = status.name if isinstance(status, UnitStatus) else status
        super().__init__(
            f"Đơn vị '{unit_id}' không sẵn sàng ({name}) (unit unavailable: already on an active assignment "
            f"or out of service)"
        )
        self.unit_id = unit_id


def check_requested(current: UnitStatus, target: UnitStatus) -> None:
    """Raise ``IllegalTransition`` unless a caller may move a unit from ``current`` to ``target``."""
    if target not in REQUESTABLE[current]:
        raise IllegalTransition("đơn vị (unit)", current.name, target.name)


def check_internal(current: UnitStatus, target: UnitStatus) -> None:
    """Raise ``IllegalTransition`` unless the machine allows the move at all."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition("đơn vị (unit)", current.name, target.name)


@dataclass
class Unit:
    id: str
    call_sign: str
    agency: str  # the city's agency code
    capabilities: list[str]
    unit_type: str
    status: UnitStatus
    lat: float
    lon: float
    address: str = ""
    station_id: str | None = None
    station_name: str = ""
    station_lat: float | None = None
    station_lon: float | None = None
    district: str = ""
    heading_deg: float = 0.0
    speed_kmh: float = 0.0
    location_updated_at: datetime | None = None
    active_assignment_id: str | None = None
    active_incident_id: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    h3_cell: int = 0
    ward_code: str = ""  # the commune-level unit of the latest position (migration 121)
    ward_name: str = ""

    def best_capability(self, wanted: list[str]) -> str:
        """The first of ``wanted`` this unit has, else its first capability."""
        return next((c for c in wanted if c in self.capabilities), self.capabilities[0] if self.capabilities else "")


@dataclass
class UnitIn:
    """A unit as registered (create or update by id)."""

    id: str
    call_sign: str
    agency: str  # the city's agency code
    capabilities: list[str]
    unit_type: str
    lat: float
    lon: float
    address: str = ""
    station_name: str = ""
    station_lat: float | None = None
    station_lon: float | None = None
    district: str = ""
    status: UnitStatus | None = None  # None = AVAILABLE for a new unit, unchanged for an existing one
    station_id: str | None = None


@dataclass
class LocationFix:
    """One AVL position report."""

    unit_id: str
    lat: float
    lon: float
    observed_at: datetime | None
    heading_deg: float = 0.0
    speed_kmh: float = 0.0
    accuracy_m: float = 0.0
    address: str = ""


@dataclass
class LocationSummary:
    accepted: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    last_observed_at: datetime | None = None
