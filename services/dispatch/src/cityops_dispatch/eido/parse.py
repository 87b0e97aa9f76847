"""Reading an EIDO JSON document from an external CAD into an ``ImportedIncident``.

Tolerant where CADs differ (a component may be an object or a list; ``lastUpdateTimeStamp`` or
``lastUpdateTimestamp``), strict where we need data: every problem is a field violation whose path
starts with ``json`` (e.g. ``json.locationComponent[0].locationByValue``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.eido.mapping import (
    CATEGORY_TYPES,
    DESCRIPTION_NOTE,
    STATUS_TEXT,
    ImportedIncident,
    parse_eido_id,
    point_from_pidf,
    priority_from_eido,
)
from cityops_platform.errors import FieldViolation, ValidationFailed

MAX_DOCUMENT = 1_000_000
_TYPE_TO_CATEGORY = {v: k for k, v in CATEGORY_TYPES.items()}
_STATUS_FROM_TEXT = {v: k for k, v in STATUS_TEXT.items()}
_CATEGORIES = frozenset(incidents_pb2.Category.keys())
_PRIORITIES = frozenset(incidents_pb2.Priority.keys())
_STATUSES = frozenset(incidents_pb2.Status.keys())


def _first(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else None


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _category(incident: dict[str, Any]) -> tuple[int, str]:
    code = str(incident.get("incidentTypeInternalCode") or "")
    name, _, sub = code.partition("/")
    if name and f"CATEGORY_{name}" in _CATEGORIES:
        return int(incidents_pb2.Category.Value(f"CATEGORY_{name}")), sub
    common = str(incident.get("incidentTypeCommonRegistryText") or "")
    mapped = _TYPE_TO_CATEGORY.get(common)
    if mapped:
        return int(incidents_pb2.Category.Value(f"CATEGORY_{mapped}")), ""
    return 0, ""


def _priority(incident: dict[str, Any]) -> int:
    text = str(incident.get("incidentPriorityInternalText") or "").strip().upper()
    if f"PRIORITY_{text}" in _PRIORITIES and text != "UNSPECIFIED":
        return int(incidents_pb2.Priority.Value(f"PRIORITY_{text}"))
    number = incident.get("incidentCommonPriorityNumber")
    if isinstance(number, int | float) and not isinstance(number, bool) and 0 <= number <= 10:
        return priority_from_eido(int(number))
    return 0


def _status(incident: dict[str, Any]) -> int:
    internal = incident.get("incidentStatusInternalText")
    for text in internal if isinstance(internal, list) else [internal]:
        if isinstance(text, str) and f"STATUS_{text}" in _STATUSES:
            return int(incidents_pb2.Status.Value(f"STATUS_{text}"))
    common = incident.get("incidentStatusCommonRegistryText")
    for text in common if isinstance(common, list) else [common]:
        if isinstance(text, str) and text in _STATUS_FROM_TEXT:
            return int(incidents_pb2.Status.Value(f"STATUS_{_STATUS_FROM_TEXT[text]}"))
    return 0


def parse_document(text: str) -> ImportedIncident:
    """Parse and check an EIDO JSON document; raises ValidationFailed naming every bad field."""
    if not text.strip():
        raise ValidationFailed([FieldViolation("json", "tài liệu EIDO trống (empty EIDO document)")])
    if len(text) > MAX_DOCUMENT:
        raise ValidationFailed([FieldViolation("json", "tài liệu quá lớn (document larger than 1 MB)")])
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValidationFailed([FieldViolation("json", f"JSON không hợp lệ (invalid JSON): {exc}")]) from exc
    if not isinstance(doc, dict):
        raise ValidationFailed([FieldViolation("json", "cần một đối tượng JSON (expected a JSON object)")])
    violations: list[FieldViolation] = []
    incident = _first(doc.get("incidentComponent"))
    ident = str(doc.get("$id") or (incident or {}).get("incidentTrackingIdentifier") or "")
    parsed_id = parse_eido_id(ident)
    if parsed_id is None:
        violations.append(FieldViolation("json.$id", "cần dạng urn:emergency:uid:incidentid:<id>:<domain>"))
    if incident is None:
        violations.append(FieldViolation("json.incidentComponent", "bắt buộc (required)"))
        incident = {}
    category, subcategory = _category(incident)
    if category == 0:
        violations.append(FieldViolation("json.incidentComponent.incidentTypeCommonRegistryText",
                                         "loại sự cố không nhận ra (unknown incident type)"))
    location = _first(doc.get("locationComponent") or doc.get("locationInformationComponent"))
    point = point_from_pidf(str(location.get("locationByValue") or "")) if location else None
    if point is None or not (math.isfinite(point[0]) and math.isfinite(point[1])
                             and -90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        violations.append(FieldViolation("json.locationComponent[0].locationByValue",
                                         "cần PIDF-LO với gml:pos hợp lệ (PIDF-LO with a valid gml:pos)"))
        point = (0.0, 0.0)
    if violations:
        raise ValidationFailed(violations)
    assert parsed_id is not None and location is not None
    notes = _items(doc.get("notesComponent"))
    texts = [(str(n.get("$id") or ""), str(n.get("notesActionComments") or "").strip()) for n in notes]
    texts = [(nid, t) for nid, t in texts if t]
    description = next((t for nid, t in texts if nid.endswith(f":note:{DESCRIPTION_NOTE}")), "")
    rest = [t for nid, t in texts if not nid.endswith(f":note:{DESCRIPTION_NOTE}")]
    if not description and rest:
        description, rest = rest[0], rest[1:]
    raw_extension = doc.get("cityopsExtension")
    extension: dict[str, Any] = raw_extension if isinstance(raw_extension, dict) else {}
    return ImportedIncident(
        eido_id=ident,
        source_incident_id=parsed_id[0],
        source_domain=parsed_id[1],
        category=category,
        subcategory=subcategory[:64],
        priority=_priority(incident),
        status=_status(incident),
        description=description[:4000],
        lat=point[0],
        lon=point[1],
        address=str(location.get("locationDescriptionText") or location.get("locationAddressText") or "")[:500],
        occurred_at=_time(extension.get("occurredAt")),
        number=str(incident.get("internalIncidentId") or ""),
        notes=[t[:4000] for t in rest],
    )
