"""CAP alert domain types, in CAP's own vocabulary ("Alert", "Actual", "Met", "Immediate", ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityops_notifications.geo import Area, Circle, Point

DRAFT, PUBLISHED, CANCELLED, SUPERSEDED = "DRAFT", "PUBLISHED", "CANCELLED", "SUPERSEDED"
STATES = (DRAFT, PUBLISHED, CANCELLED, SUPERSEDED)
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
              "CBRNE", "Other")
RESPONSE_TYPES = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")


@dataclass(frozen=True)
class CapArea:
    area_desc: str
    polygon: tuple[Point, ...] = ()
    circle: Circle | None = None

    def as_area(self) -> Area:
        return Area(circle=self.circle, polygon=self.polygon)


@dataclass(frozen=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str = ""
    description: str = ""
    instruction: str = ""
    area: CapArea | None = None
    response_types: tuple[str, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    web: str = ""
    contact: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in (
            "language", "event", "urgency", "severity", "certainty", "headline", "description", "instruction",
            "sender_name", "web", "contact")}
        out["categories"] = list(self.categories)
        out["response_types"] = list(self.response_types)
        for k in ("effective", "onset", "expires"):
            value = getattr(self, k)
            out[k] = value.isoformat() if value else None
        if self.area is not None:
            out["area"] = {"area_desc": self.area.area_desc, **self.area.as_area().to_json()}
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CapInfo:
        area = None
        if raw.get("area"):
            shape = Area.from_json(raw["area"])
            area = CapArea(raw["area"].get("area_desc", ""), shape.polygon if shape else (),
                           shape.circle if shape else None)

        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(raw[key]) if raw.get(key) else None

        return cls(
            language=raw["language"], categories=tuple(raw.get("categories") or ()), event=raw["event"],
            urgency=raw["urgency"], severity=raw["severity"], certainty=raw["certainty"],
            headline=raw.get("headline", ""), description=raw.get("description", ""),
            instruction=raw.get("instruction", ""), area=area,
            response_types=tuple(raw.get("response_types") or ()),
            effective=when("effective"), onset=when("onset"), expires=when("expires"),
            sender_name=raw.get("sender_name", ""), web=raw.get("web", ""), contact=raw.get("contact", ""),
        )


@dataclass(frozen=True)
class AlertIn:
    """What a supervisor drafts: the server fills identifier, sender, author, state and msgType."""

    infos: tuple[CapInfo, ...]
    status: str = "Actual"
    scope: str = "Public"
    restriction: str = ""
    addresses: str = ""
    incident_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class CapAlert:
    id: str
    identifier: str
    sender: str
    status: str
    msg_type: str
    scope: str
    state: str
    author: str
    infos: tuple[CapInfo, ...]
    created_at: datetime
    updated_at: datetime
    restriction: str = ""
    addresses: str = ""
    references: tuple[str, ...] = ()
    approver: str = ""
    note: str = ""
    incident_id: str = ""
    supersedes_id: str = ""
    sent_at: datetime | None = None
    xml: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
