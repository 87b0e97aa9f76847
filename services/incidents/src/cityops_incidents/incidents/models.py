"""Domain types of the incidents service. Categories and agencies are the city's codes
(``cities/<name>/city.yaml``: "FIELD_REPORT", "POLICE_113"); other enum values are the proto names
without their prefix ("HOTLINE_1022", "NEW"); priorities are 1 (P1) to 4 (P4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_platform.city import current_city
from cityops_platform.codecs import Actor as Actor  # re-exported: the one Actor


def _names(enum: object, prefix: str) -> frozenset[str]:
    names = enum.keys()  # type: ignore[attr-defined]
    return frozenset(n[len(prefix):] for n in names if not n.endswith("_UNSPECIFIED"))


CATEGORIES = frozenset(current_city().category_codes)  # the city's registry
SOURCES = _names(pb.Source, "SOURCE_")
STATUSES = _names(pb.Status, "STATUS_")
AGENCIES = frozenset(current_city().agency_codes)
OPEN_STATUSES = ("NEW", "ACKNOWLEDGED", "DISPATCHED", "ON_SCENE")
# AWAITING_DOSSIER (chờ bổ sung hồ sơ) is open too (the case waits for the citizen, its clock
# stopped) but kept out of OPEN_STATUSES: those match the partial indexes of fusion and nearby
# search, and a paused administrative procedure is never a fusion candidate.
PAUSED_STATUSES = ("AWAITING_DOSSIER",)
TERMINAL_STATUSES = ("CLOSED", "CANCELLED", "DUPLICATE")
SYSTEM_SUBJECT = "system:incidents"


SYSTEM_ACTOR = Actor(SYSTEM_SUBJECT, "system")


@dataclass
class ReportIn:
    """One report from any channel. ``reporter_*`` is PII: stored on the report row only."""

    category: str
    source: str
    lat: float
    lon: float
    idempotency_key: str
    has_location: bool = True
    address: str = ""
    subcategory: str = ""
    description: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""  # as typed; never stored (the row keeps the hash and the masked form)
    reporter_phone_hash: str = ""  # text.phone_hash, set by the service
    reporter_phone_key_id: str = ""  # text.phone_key_id of the key that made the hash (migration 180)
    reporter_subject: str = ""
    occurred_at: datetime | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    priority_override: int = 0
    sensor_alert_id: str = ""
    sensor_level: str = ""  # WARN | CRITICAL for sensor reports
    attach_to: str = ""  # staff chose the incident this report joins (a merge, not fusion's guess)


@dataclass
class Incident:
    """One incident (possibly many fused reports), as stored. Carries no reporter PII."""

    id: str
    number: str
    category: str
    subcategory: str
    priority: int
    status: str
    description: str
    lat: float
    lon: float
    address: str
    district: str
    report_count: int
    sources: list[str]
    agency: str
    created_at: datetime
    updated_at: datetime
    occurred_at: datetime
    last_report_at: datetime
    sla_stage: str
    sla_due_at: datetime | None
    sla_breaches: list[str]
    version: int
    escalation_level: int
    duplicate_of: str
    external_ids: dict[str, str]
    open_alert_ids: list[str]
    acknowledged_at: datetime | None = None
    dispatched_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    # The running SLA stage's clock (incidents/sla.py): when the stage started, at which priority
    # its deadline was set, when its pre-breach warning falls due, the stages already warned; while
    # paused (AWAITING_DOSSIER), when it stopped and the seconds that were left (working seconds
    # for working-time categories) until the deadline and until the warning.
    sla_started_at: datetime | None = None
    sla_priority: int | None = None
    sla_warn_at: datetime | None = None
    sla_warned: list[str] = field(default_factory=list)
    sla_paused_at: datetime | None = None
    sla_remaining_s: float | None = None
    sla_warn_remaining_s: float | None = None
    sla_working_time: bool = False  # the clock counts office hours of the working calendar
    # The commune-level unit (phường/xã) of the location (migration 120); ``district`` mirrors its
    # name for clients of the deprecated field.
    ward_code: str = ""
    ward_name: str = ""
    reopen_count: int = 0
    split_from: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES or self.status in PAUSED_STATUSES


@dataclass(frozen=True)
class TransitionIn:
    incident_id: str
    to_status: str
    reason: str = ""
    expected_version: int = 0
    duplicate_of: str = ""
    assignment_id: str = ""
    idempotency_key: str = ""  # optional: a replay with the same key is answered, not applied again


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: Actor
    action: str
    before: str
    after: str
    detail: str
    version: int
    event_id: str


@dataclass(frozen=True)
class ReportOutcome:
    incident: Incident
    merged: bool
    report_id: str
    replayed: bool = False  # True when the idempotency key was seen before


@dataclass(frozen=True)
class ListQuery:
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    agencies: tuple[str, ...] = ()
    text: str = ""
    district: str = ""  # deprecated filter: a ward code or name, or a former district's name
    ward_codes: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    page_size: int = 50
    page_token: str = ""


@dataclass(frozen=True)
class SensorAlertIn:
    """A SensorAlert transition, already mapped to domain names."""

    event_id: str
    alert_id: str
    sensor_id: str
    kind: str
    state: str  # RAISED | CLEARED
    level: str  # WARN | CRITICAL
    rule_type: str
    value: float
    threshold: float
    unit: str
    sensor_name: str
    lat: float
    lon: float
    address: str
    at: datetime


@dataclass(frozen=True)
class DispatchEventIn:
    event_id: str
    incident_id: str
    assignment_id: str
    kind: str  # the DispatchEvent oneof case, e.g. "unit_assigned"
    call_sign: str
    agency: str
    actor: Actor
    unit_id: str = ""
    override_reason: str = ""  # UnitAssigned: the dispatcher chose this unit over the recommended one


@dataclass(frozen=True)
class SplitIn:
    incident_id: str
    report_id: str
    reason: str
    expected_version: int


@dataclass(frozen=True)
class ReopenIn:
    """A request to reopen a resolved incident, with why and the version the caller saw."""

    incident_id: str
    reason: str
    expected_version: int


@dataclass(frozen=True)
class RatingIn:
    incident_id: str
    rating: int
    comment: str = ""
    link_token: str = ""


@dataclass(frozen=True)
class Rating:
    id: str
    incident_id: str
    incident_number: str
    rating: int
    comment: str
    agency: str
    category: str
    channel: str  # "link" | "reporter"
    rated_at: datetime


@dataclass(frozen=True)
class SatisfactionRow:
    agency: str
    category: str
    count: int
    average: float
    distribution: tuple[int, int, int, int, int]

    @property
    def satisfied_share(self) -> float:
        return (self.distribution[3] + self.distribution[4]) / self.count if self.count else 0.0


@dataclass(frozen=True)
class StoredReport:
    """A report row as an operator may see it (the phone only masked: the row holds no more)."""

    id: str
    incident_id: str
    merged: bool
    distance_m: float
    source: str
    category: str
    subcategory: str
    description: str
    lat: float
    lon: float
    address: str
    reporter_phone_masked: str
    reporter_subject: str
    sensor_alert_id: str
    external_ids: dict[str, str]
    occurred_at: datetime
    received_at: datetime
    idempotency_key: str = ""
