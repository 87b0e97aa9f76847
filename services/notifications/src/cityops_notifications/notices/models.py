"""A notice: what happened, where, how urgent, and the facts a template renders.

Every consumed event becomes one ``Notice``; subscription filters and templates only see notices,
so adding a new source means writing one translation function, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityops_notifications.geo import Area, Point

INCIDENT_ESCALATED = "cityops.incidents.v1.IncidentEscalated"
CAP_ALERT = "cityops.notifications.v1.CapAlert"
SENSOR_ALERT = "cityops.sensors.v1.SensorAlert"


@dataclass
class Notice:
    event_id: str
    event_type: str  # the body's full proto name, as in SubscriptionFilter.event_types
    source_topic: str
    occurred_at: datetime
    template: str  # template key, e.g. "incident_reported"
    incident_id: str = ""
    category: str = ""  # the city's category code, e.g. "FLOOD"
    priority: int = 0  # 1 (P1) .. 4; 0 = not applicable
    location: Point | None = None
    area: Area | None = None  # CAP alerts: the warned area
    agencies: frozenset[str] = frozenset()  # the city's agency codes
    district: str = ""  # the ward's name (the deprecated field of the source event)
    reporter_subject: str = ""
    urgent: bool = False  # public warnings skip per-recipient rate limits
    context: dict[str, Any] = field(default_factory=dict)  # facts for templates (JSON-safe)
    ward_code: str = ""  # the commune-level unit of the event's location
    data: dict[str, Any] = field(default_factory=dict)  # the source event as JSON, for webhooks
    # The source event; ``event_data`` turns it into ``data`` only when needed (the notice is
    # stored): most events match no subscription, and converting each one up front was work
    # nothing read.
    source: Any = field(default=None, repr=False, compare=False)

    def event_data(self) -> dict[str, Any]:
        """``data``, converted from ``source`` the first time it is asked for."""
        if not self.data and self.source is not None:
            from google.protobuf import json_format

            self.data = json_format.MessageToDict(self.source, preserving_proto_field_name=True)
        return self.data

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "source_topic": self.source_topic,
            "occurred_at": self.occurred_at.isoformat(),
            "template": self.template,
            "incident_id": self.incident_id,
            "category": self.category,
            "priority": self.priority,
            "location": [self.location.lat, self.location.lon] if self.location else None,
            "area": self.area.to_json() if self.area else None,
            "agencies": sorted(self.agencies),
            "district": self.district,
            "ward_code": self.ward_code,
            "reporter_subject": self.reporter_subject,
            "urgent": self.urgent,
            "context": self.context,
            "data": self.event_data(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Notice:
        loc = raw.get("location")
        return cls(
            event_id=raw["event_id"],
            event_type=raw["event_type"],
            source_topic=raw["source_topic"],
            occurred_at=datetime.fromisoformat(raw["occurred_at"]),
            template=raw["template"],
            incident_id=raw.get("incident_id", ""),
            category=_category(str(raw.get("category", ""))),
            priority=int(raw.get("priority", 0)),
            location=Point(float(loc[0]), float(loc[1])) if loc else None,
            area=Area.from_json(raw.get("area")),
            agencies=frozenset(_agency(a) for a in raw.get("agencies") or []) - {""},
            district=raw.get("district", ""),
            ward_code=raw.get("ward_code", ""),
            reporter_subject=raw.get("reporter_subject", ""),
            urgent=bool(raw.get("urgent", False)),
            context=dict(raw.get("context") or {}),
            data=dict(raw.get("data") or {}),
        )


def _category(value: str) -> str:
    """A stored category: a code, or (notices queued before codes) an enum name mapped to its code."""
    from cityops_notifications.codes import category_from_filter

    return category_from_filter(value) or value


def _agency(value: Any) -> str:
    """A stored agency: a code, or (notices queued before codes) an enum number mapped to its code."""
    from cityops_notifications.codes import agency_from_enum

    return (agency_from_enum(value) or "") if isinstance(value, int) else str(value)
