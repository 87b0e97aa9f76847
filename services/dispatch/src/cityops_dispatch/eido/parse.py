"""Reading an EIDO JSON document from an external CAD into an ``ImportedIncident``.

Any EIDO valid against NENA-STA-021.1b's schema that has an incident component is accepted: the
incident type must be a value of the Incident Type registry (mapped to a city category by
config/eido.yaml, OTHER when the city has no closer one); the location may be a PIDF-LO point, a
PIDF-LO civic address or a description only (then placed at a known place's centre, or at the
city's fallback point, and flagged). Every problem is a field violation whose path starts with
``json`` (e.g. ``json.incidentComponent.incidentTypeCommonRegistryText``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from cityops.incidents.v1 import incidents_pb2
from cityops_dispatch.eido import standard as std
from cityops_dispatch.eido.mapping import (
    DESCRIPTION_NOTE,
    ImportedIncident,
    parse_eido_id,
    point_from_pidf,
    priority_from_eido,
)
from cityops_dispatch.eido.standard import EidoStandard
from cityops_dispatch.eido.vocabulary import Vocabulary
from cityops_platform.city import current_city
from cityops_platform.errors import FieldViolation, Unavailable, ValidationFailed
from cityops_platform.standards import ENV as STANDARDS_ENV

MAX_DOCUMENT = 1_000_000
_PRIORITIES = frozenset(incidents_pb2.Priority.keys())
_STATUSES = frozenset(incidents_pb2.Status.keys())
_CATEGORIES = frozenset(current_city().category_codes)
# RFC 5139 civic address elements, most specific first (A6 street ... A1 province, country).
_CIVIC_ORDER = ("HNO", "HNS", "RD", "STS", "A6", "A5", "A4", "A3", "A2", "A1", "country")
_CIVIC_PLACES = ("A6", "A5", "A4", "A3", "A2", "A1")
_INCIDENT_LOCATIONS = ("CurrentIncident", "InitialIncident")


def _civic(xml: str) -> dict[str, str]:
    """The civic address elements of a PIDF-LO (namespace prefixes ignored; no entity expansion)."""
    block = re.search(r"<(?:[A-Za-z0-9_]+:)?civicAddress\b.*?</(?:[A-Za-z0-9_]+:)?civicAddress>", xml or "", re.S)
    if not block:
        return {}
    found: dict[str, str] = {}
    for name in _CIVIC_ORDER:
        match = re.search(rf"<(?:[A-Za-z0-9_]+:)?{name}(?:\s[^>]*)?>([^<]*)</", block.group(0))
        if match and match.group(1).strip():
            found[name] = " ".join(match.group(1).split())[:200]
    return found


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


def _category(incident: dict[str, Any], vocab: Vocabulary) -> tuple[str, str]:
    """(the city's category code, subcategory) of an EIDO incident."""
    code = str(incident.get("incidentTypeInternalCode") or "")
    name, _, sub = code.partition("/")
    if name and name in _CATEGORIES:  # one of ours coming back
        return name, sub
    return vocab.category_of(str(incident.get("incidentTypeCommonRegistryText") or ""))


def _priority(incident: dict[str, Any]) -> int:
    text = str(incident.get("incidentPriorityInternalText") or "").strip().upper()
    if f"PRIORITY_{text}" in _PRIORITIES and text != "UNSPECIFIED":
        return int(incidents_pb2.Priority.Value(f"PRIORITY_{text}"))
    number = incident.get("incidentCommonPriorityNumber")
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 10:
        return priority_from_eido(number)
    return 0


def _status(incident: dict[str, Any], vocab: Vocabulary) -> int:
    for text in incident.get("incidentStatusInternalText") or []:
        if isinstance(text, str) and f"STATUS_{text}" in _STATUSES and text != "UNSPECIFIED":
            return int(incidents_pb2.Status.Value(f"STATUS_{text}"))
    common = [t for t in incident.get("incidentStatusCommonRegistryText") or [] if isinstance(t, str)]
    status = vocab.status_of(common)
    return int(incidents_pb2.Status.Value(f"STATUS_{status}")) if status else 0


def _tracking_id(doc: dict[str, Any], incident: dict[str, Any]) -> tuple[str, str, str]:
    """(key of the incident, source incident id, source domain). NENA puts the Incident Tracking
    Identifier in the incident component's ``$id``; older senders put it in the EIDO's ``$id``."""
    for candidate in (incident.get("$id"), doc.get("$id")):
        parsed = parse_eido_id(str(candidate or ""))
        if parsed is not None:
            return str(candidate), parsed[0], parsed[1]
    ident = str(incident.get("$id") or doc.get("$id"))
    domain = str(doc.get("issuingElementIdentification") or "")
    return ident, hashlib.sha256(ident.encode()).hexdigest()[:32], domain


def _locations(doc: dict[str, Any], incident: dict[str, Any]) -> list[dict[str, Any]]:
    """Location components, the incident's own first (referenced, then by type), then the rest."""
    every = _items(doc.get("locationComponent"))
    wanted = {str(r.get("$ref")) for r in _items(incident.get("locationReference"))}

    def rank(loc: dict[str, Any]) -> int:
        kind = str(loc.get("locationTypeDescriptionRegistryText") or "")
        return (0 if str(loc.get("$id")) in wanted else 2) + (0 if kind in _INCIDENT_LOCATIONS else 1)

    return sorted(every, key=rank)


def _place(doc: dict[str, Any], incident: dict[str, Any], vocab: Vocabulary
           ) -> tuple[float, float, str, str, str]:
    """(lat, lon, address text, quality, note) of the incident."""
    locations = _locations(doc, incident)
    for loc in locations:
        point = point_from_pidf(str(loc.get("locationByValue") or ""))
        if point is not None and math.isfinite(point[0]) and math.isfinite(point[1]) \
                and -90 <= point[0] <= 90 and -180 <= point[1] <= 180:
            address = str(loc.get("locationDescriptionText") or "")
            return point[0], point[1], address, "", ""
    for loc in locations:
        civic = _civic(str(loc.get("locationByValue") or ""))
        text = str(loc.get("locationDescriptionText") or "")
        if not civic and not text:
            continue
        address = ", ".join(v for k, v in civic.items() if k != "country") if civic else text
        names = [civic[k] for k in _CIVIC_PLACES if k in civic] if civic else [p.strip() for p in text.split(",")]
        place, known = vocab.locate(names)
        if known:
            note = (f"Vị trí gần đúng: tâm của {place.name} theo địa chỉ trong EIDO, cần xác minh "
                    f"(approximate location: the centre of {place.name} from the EIDO's civic address; verify)")
            return place.lat, place.lon, address, "approximate", note
        note = (f"Chưa xác định được vị trí từ địa chỉ trong EIDO, tạm đặt tại {place.name}; cần xác minh "
                f"(location not resolved from the EIDO's address; placed at {place.name} until verified)")
        return place.lat, place.lon, address, "unresolved", note
    place = vocab.fallback_place
    note = (f"EIDO không có vị trí; tạm đặt tại {place.name}, cần xác minh "
            f"(the EIDO has no location; placed at {place.name} until verified)")
    return place.lat, place.lon, "", "unresolved", note


def load_json(text: str) -> dict[str, Any]:
    """The document as a JSON object, or ``ValidationFailed`` on ``json``."""
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
    return doc


def parse_document(text: str, *, standard: EidoStandard | None, vocab: Vocabulary) -> ImportedIncident:
    """Parse and check an EIDO JSON document; raises ValidationFailed naming every bad field, and
    Unavailable when NENA's schema is not installed (never an unchecked import)."""
    if standard is None:
        raise Unavailable(f"Chưa cài lược đồ EIDO của NENA ({STANDARDS_ENV}): không nhập được EIDO "
                          f"(NENA's EIDO schema is not installed: EIDO import is unavailable)")
    doc = load_json(text)
    violations = standard.schema_violations(doc)
    incident = doc.get("incidentComponent")
    if not isinstance(incident, dict):
        if not violations:
            violations.append(FieldViolation(
                "json.incidentComponent", "bắt buộc để nhập một sự cố (required to import an incident)"))
        raise ValidationFailed(violations)
    code = incident.get("incidentTypeCommonRegistryText")
    if isinstance(code, str) and code not in standard.values(std.INCIDENT_TYPES):
        violations.append(FieldViolation("json.incidentComponent.incidentTypeCommonRegistryText",
                                         f"không có trong sổ đăng ký loại sự cố (not in the Incident Type "
                                         f"registry): {code[:80]!r}"))
    violations.extend(standard.duplicate_ids(doc, header_may_be_incident=True))
    if violations:
        raise ValidationFailed(violations)
    ident, source_id, source_domain = _tracking_id(doc, incident)
    category, subcategory = _category(incident, vocab)
    lat, lon, address, quality, location_note = _place(doc, incident, vocab)
    notes = _items(doc.get("notesComponent"))
    texts = [(str(n.get("$id") or ""), str(n.get("notesActionComments") or "").strip()) for n in notes]
    texts = [(nid, t) for nid, t in texts if t]

    def is_description(nid: str) -> bool:
        return nid.endswith(f":note:{DESCRIPTION_NOTE}") or f"-note-{DESCRIPTION_NOTE}:" in nid

    description = next((t for nid, t in texts if is_description(nid)), "")
    rest = [t for nid, t in texts if not is_description(nid)]
    if not description and rest:
        description, rest = rest[0], rest[1:]
    if not description:
        description = str(incident.get("incidentTypeInternalText") or code or "")
    raw_extension = doc.get("cityopsExtension")
    extension: dict[str, Any] = raw_extension if isinstance(raw_extension, dict) else {}
    return ImportedIncident(
        eido_id=ident,
        source_incident_id=source_id,
        source_domain=source_domain,
        category=category,
        subcategory=subcategory[:64],
        priority=_priority(incident),
        status=_status(incident, vocab),
        description=description[:4000],
        lat=lat,
        lon=lon,
        address=address[:500],
        occurred_at=_time(extension.get("occurredAt")),
        number=str(incident.get("internalIncidentId") or ""),
        notes=[t[:4000] for t in rest] + ([location_note] if location_note else []),
        location_quality=quality,
        location_note=location_note,
    )
