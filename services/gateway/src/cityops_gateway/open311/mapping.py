"""Open311 GeoReport v2 ↔ CityOps incidents: validation of posted requests and the response shapes.

Pure functions (no network), so every rule here is unit-tested.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.open311.attributes import answers_from_fields, describe, validate_answers
from cityops_gateway.open311.catalog import Open311Service, ServiceCatalog, incident_category
from cityops_gateway.open311.gazetteer import Gazetteer
from cityops_gateway.open311.publish import is_web_url
from cityops_gateway.publicsafe import redact_contacts
from cityops_platform import codecs
from cityops_platform.city import CodeRegistry, current_city

OPEN = frozenset(
    {incidents_pb2.STATUS_NEW, incidents_pb2.STATUS_ACKNOWLEDGED, incidents_pb2.STATUS_DISPATCHED,
     incidents_pb2.STATUS_ON_SCENE, incidents_pb2.STATUS_AWAITING_DOSSIER}
)
STATUS_NOTES: dict[int, tuple[str, str]] = {
    incidents_pb2.STATUS_NEW: ("Đã tiếp nhận", "Received"),
    incidents_pb2.STATUS_ACKNOWLEDGED: ("Đang xác minh", "Being reviewed"),
    incidents_pb2.STATUS_DISPATCHED: ("Đã điều lực lượng xử lý", "Crew dispatched"),
    incidents_pb2.STATUS_ON_SCENE: ("Lực lượng đang xử lý tại hiện trường", "Crew on site"),
    incidents_pb2.STATUS_RESOLVED: ("Đã xử lý xong", "Resolved"),
    incidents_pb2.STATUS_CLOSED: ("Đã đóng", "Closed"),
    incidents_pb2.STATUS_CANCELLED: ("Đã hủy", "Cancelled"),
    incidents_pb2.STATUS_DUPLICATE: ("Trùng với phản ánh khác", "Duplicate of another request"),
    incidents_pb2.STATUS_AWAITING_DOSSIER: ("Chờ người dân bổ sung hồ sơ", "Waiting for you to complete the dossier"),
}
AGENCY_CODES = CodeRegistry.agencies(current_city())


def agency_name(incident: incidents_pb2.Incident, lang: str) -> str | None:
    """The responsible agency's name in ``lang`` (the city's registry), None when unrouted."""
    code = incident.agency_code
    if not code and incident.agency:
        code = AGENCY_CODES.by_enum.get(common_pb2.Agency.Name(incident.agency).removeprefix("AGENCY_"), "")
    agency = current_city().agency(code) if code else None
    return current_city().text(dict(agency.names), lang) if agency else None


def _note(builtin: tuple[str, str], texts: dict[str, Any], key: str, lang: str) -> str:
    """A note in ``lang``: the language file's (``status_notes``/``location_notes``), else the built-in
    Vietnamese or English one, else the built-in in the default language."""
    own = texts.get(lang, {}).get(key)
    if own:
        return str(own)
    if lang in ("vi", "en"):
        return builtin[0] if lang == "vi" else builtin[1]
    default = current_city().default_language
    return str(texts.get(default, {}).get(key) or (builtin[1] if default == "en" else builtin[0]))
_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
# Control characters carry no meaning in a report and no XML 1.0 document may hold them.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_DESCRIPTION = 4000
# How a request was located (external_ids["open311_location"] of its incident).
BY_COORDINATES, BY_ADDRESS_ID, BY_STREET = "coordinates", "address_id", "street"
BY_UNIT, UNLOCATED = "unit", "unlocated"
LOCATION_NOTES: dict[str, tuple[str, str]] = {
    BY_STREET: ("Vị trí xác định theo tên đường", "Located by street name"),
    BY_UNIT: ("Vị trí gần đúng theo phường/xã", "Approximate location (ward or commune centre)"),
    UNLOCATED: ("Chưa xác định được vị trí từ địa chỉ; trung tâm sẽ xác minh",
                "Address not found on the map; the centre will verify the location"),
}


@dataclass
class Open311Error(Exception):
    """An error in the GeoReport format: ``[{"code": <http status>, "description": ...}, ...]``.

    ``more`` holds further descriptions when one request has several faults (the spec's body
    is an array); they share the HTTP status."""

    http_status: int
    description: str
    more: tuple[str, ...] = ()

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.http_status, "description": d} for d in (self.description, *self.more)]


@dataclass
class PostedRequest:
    """A validated ``POST requests.json``."""

    service: Open311Service
    lat: float
    lon: float
    located_by: str = BY_COORDINATES
    address_id: str = ""
    address: str = ""
    description: str = ""
    reporter_name: str = ""
    phone: str = ""
    client_key: str = ""
    media_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    answers: str = ""  # the service definition's answers, as description lines

    @property
    def notice(self) -> str:
        """What the POST's service_notice adds about the location."""
        note = LOCATION_NOTES.get(self.located_by)
        return f"{note[0]} ({note[1]})" if note else ""


def _text(fields: Mapping[str, Any], name: str, max_len: int) -> str:
    raw = fields.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise Open311Error(400, f"{name}: phải là chuỗi (must be a string)")
    value = _CONTROL.sub("", str(raw)).strip()
    if len(value) > max_len:
        raise Open311Error(400, f"{name}: tối đa {max_len} ký tự (at most {max_len} characters)")
    return value


def _coordinate(fields: Mapping[str, Any], name: str, limit: float) -> float:
    raw = fields.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise Open311Error(400, f"{name}: bắt buộc phải có tọa độ lat và long (lat and long are required)")
    if isinstance(raw, bool):
        raise Open311Error(400, f"{name}: phải là số (must be a number)")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise Open311Error(400, f"{name}: phải là số (must be a number)") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise Open311Error(400, f"{name}: ngoài phạm vi ±{limit:g} (out of range)")
    return value


def _present(fields: Mapping[str, Any], name: str) -> bool:
    raw = fields.get(name)
    return raw is not None and not (isinstance(raw, str) and not raw.strip())


def _locate(
    fields: Mapping[str, Any], gazetteer: Gazetteer, *, unlocated_ok: bool
) -> tuple[float, float, str, str, str]:
    """(lat, lon, located_by, address_id, address): lat/long, else address_id, else address_string."""
    address = _text(fields, "address_string", 500)
    if _present(fields, "lat") or _present(fields, "long"):
        return _coordinate(fields, "lat", 90), _coordinate(fields, "long", 180), BY_COORDINATES, "", address
    address_id = _text(fields, "address_id", 64)
    if address_id:
        place = gazetteer.by_id(address_id)
        if place is None:
            raise Open311Error(400, f"address_id không tồn tại (address_id not found): {address_id}")
        return place.lat, place.lon, BY_ADDRESS_ID, place.id, address or place.label
    if address:
        place = gazetteer.geocode(address)
        if place is not None:
            by = BY_STREET if place.precision == "street" else BY_UNIT
            return place.lat, place.lon, by, place.id, address
        if not unlocated_ok:
            raise Open311Error(400, "address_string: không tìm thấy địa chỉ; hãy gửi lat và long "
                                    "(address not found; send lat and long)")
        return gazetteer.fallback.lat, gazetteer.fallback.lon, UNLOCATED, "", address
    raise Open311Error(400, "lat: cần vị trí: lat và long, hoặc address_string, hoặc address_id "
                            "(a location is required: lat and long, or address_string, or address_id)")


def parse_post(
    fields: Mapping[str, Any],
    catalog: ServiceCatalog,
    *,
    gazetteer: Gazetteer | None = None,
    answers: Mapping[str, list[str]] | None = None,
    idempotency_header: str = "",
    timezone: str = "",
    unlocated_ok: bool = True,
) -> PostedRequest:
    """Validate a posted service request (api_key and jurisdiction_id are checked before this).

    An unknown service_code is a 404 (the spec's code); the location is lat/long, or address_id,
    or address_string (geocoded, or accepted as ``unlocated``); the service definition's
    attributes are checked and every bad one reported."""
    code = _text(fields, "service_code", 64)
    if not code:
        raise Open311Error(400, "service_code: bắt buộc (service_code is required)")
    service = catalog.get(code)
    if service is None:
        raise Open311Error(404, f"service_code không tồn tại (service_code not found): {code}")
    lat, lon, located_by, address_id, address = _locate(
        fields, gazetteer or _EMPTY_GAZETTEER, unlocated_ok=unlocated_ok
    )
    client_key = _text(fields, "idempotency_key", 80) or idempotency_header.strip()
    if client_key and not _KEY_RE.match(client_key):
        raise Open311Error(400, "idempotency_key: 1-80 ký tự A-Z a-z 0-9 . _ : - (invalid characters)")
    accepted, errors = validate_answers(
        service.attributes, answers if answers is not None else answers_from_fields(list(fields.items())),
        timezone=timezone or current_city().timezone,
    )
    if errors:
        first, *rest = (f"{e.field}: {e.description}" for e in errors)
        raise Open311Error(400, first, tuple(rest))
    description = _text(fields, "description", MAX_DESCRIPTION)
    answered = describe(accepted)
    if len(description) + len(answered) + 1 > MAX_DESCRIPTION:
        raise Open311Error(400, f"description: cùng các câu trả lời tối đa {MAX_DESCRIPTION} ký tự (too long)")
    name = " ".join(p for p in (_text(fields, "first_name", 64), _text(fields, "last_name", 64)) if p)
    media_url = _text(fields, "media_url", 1000)
    if media_url and not is_web_url(media_url):
        raise Open311Error(400, "media_url: phải là địa chỉ http(s) (must be an http or https URL)")
    return PostedRequest(
        service=service,
        lat=lat,
        lon=lon,
        located_by=located_by,
        address_id=address_id,
        address=address,
        description=description,
        reporter_name=name,
        phone=_text(fields, "phone", 32),
        client_key=client_key,
        media_url=media_url,
        extra={k: v for k in ("device_id", "account_id") if (v := _text(fields, k, 128))},
        answers=answered,
    )


_EMPTY_GAZETTEER = Gazetteer({"fallback": {"name": "", "lat": 0.0, "lon": 0.0}})


def report_request(posted: PostedRequest, *, client: str, idempotency_key: str) -> incidents_pb2.ReportIncidentRequest:
    """The ``ReportIncident`` call for a posted request (source OPEN311)."""
    external = {"open311_client": client, **{f"open311_{k}": v for k, v in posted.extra.items()}}
    if posted.media_url:
        external["open311_media_url"] = posted.media_url
    external["open311_location"] = posted.located_by
    if posted.address_id:
        external["open311_address_id"] = posted.address_id
    text = "\n".join(p for p in (posted.description, posted.answers) if p)
    return incidents_pb2.ReportIncidentRequest(
        category_code=posted.service.category,
        subcategory=posted.service.subcategory,
        description=text or posted.service.name(current_city().default_language),
        location=common_pb2.GeoPoint(lat=posted.lat, lon=posted.lon, address=posted.address),
        source=incidents_pb2.SOURCE_OPEN311,
        reporter=incidents_pb2.Reporter(name=posted.reporter_name, phone=posted.phone),
        idempotency_key=idempotency_key,
        external_ids=external,
    )


def request_id(incident: incidents_pb2.Incident) -> str:
    """Open311's service_request_id: the human-readable incident number."""
    return incident.number or incident.id


def _iso(ts: Timestamp, tz: ZoneInfo) -> str | None:
    if not codecs.is_set(ts):
        return None
    return codecs.from_timestamp(ts).astimezone(tz).isoformat(timespec="seconds")


def to_service_request(
    incident: incidents_pb2.Incident, catalog: ServiceCatalog, *, lang: str, timezone: str
) -> dict[str, Any]:
    """One GeoReport v2 service request for an incident.

    Public-safe: incidents carry no reporter data, and phone numbers or e-mail addresses inside
    the free text (description, address) are masked. A request whose address could not be
    geocoded has no lat/long (it is not published at the fallback point)."""
    tz = ZoneInfo(timezone)
    service = catalog.for_incident(incident_category(incident), incident.subcategory)
    status = incidents_pb2.Status.Name(incident.status).removeprefix("STATUS_") if incident.status else ""
    texts = {lang: {**(t.get("status_notes") or {}), **{f"location:{k}": v for k, v in
                                                        (t.get("location_notes") or {}).items()}}
             for lang, t in catalog.texts.items()}
    note = _note(STATUS_NOTES.get(incident.status, ("", "")), texts, status, lang)
    located_by = incident.external_ids.get("open311_location", "")
    if located_by in LOCATION_NOTES:
        note = f"{note}. {_note(LOCATION_NOTES[located_by], texts, f'location:{located_by}', lang)}"
    unlocated = located_by == UNLOCATED
    return {
        "service_request_id": request_id(incident),
        "status": "open" if incident.status in OPEN else "closed",
        "status_notes": note,
        "service_name": service.name(lang) if service else None,
        "service_code": service.code if service else None,
        "description": redact_contacts(incident.description),
        "agency_responsible": agency_name(incident, lang),
        "service_notice": None,
        "requested_datetime": _iso(incident.created_at, tz),
        "updated_datetime": _iso(incident.updated_at, tz),
        "expected_datetime": _iso(incident.sla_due_at, tz) if incident.status in OPEN else None,
        "address": redact_contacts(incident.location.address) or None,
        "address_id": incident.external_ids.get("open311_address_id") or None,
        "zipcode": None,
        "lat": None if unlocated else incident.location.lat,
        "long": None if unlocated else incident.location.lon,
        "media_url": incident.external_ids.get("open311_media_url") or None,
    }


def parse_datetime(raw: str, name: str, *, timezone: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in the city's time zone."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        example = "2026-01-31T08:00:00+07:00"
        raise Open311Error(400, f"{name}: phải theo ISO 8601 (must be ISO 8601), ví dụ {example}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value
