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
from cityops_gateway.open311.catalog import Open311Service, ServiceCatalog

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
AGENCY_NAMES: dict[int, str] = {
    common_pb2.AGENCY_POLICE_113: "Công an 113",
    common_pb2.AGENCY_FIRE_RESCUE_114: "Cảnh sát PCCC và CNCH 114",
    common_pb2.AGENCY_MEDICAL_115: "Cấp cứu 115",
    common_pb2.AGENCY_PUBLIC_WORKS: "Công trình công cộng",
    common_pb2.AGENCY_UTILITIES: "Điện, nước",
    common_pb2.AGENCY_ENVIRONMENT: "Tài nguyên và Môi trường",
    common_pb2.AGENCY_ADMIN_CENTER: "Trung tâm hành chính công",
}
_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")


@dataclass
class Open311Error(Exception):
    """An error in the GeoReport format: ``[{"code": <http status>, "description": ...}]``."""

    http_status: int
    description: str

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.http_status, "description": self.description}]


@dataclass
class PostedRequest:
    """A validated ``POST requests.json``."""

    service: Open311Service
    lat: float
    lon: float
    address: str = ""
    description: str = ""
    reporter_name: str = ""
    phone: str = ""
    client_key: str = ""
    media_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _text(fields: Mapping[str, Any], name: str, max_len: int) -> str:
    raw = fields.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise Open311Error(400, f"{name}: phải là chuỗi (must be a string)")
    value = str(raw).strip()
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


def parse_post(fields: Mapping[str, Any], catalog: ServiceCatalog, *, idempotency_header: str = "") -> PostedRequest:
    """Validate a posted service request (api_key is checked before this, by the route)."""
    code = _text(fields, "service_code", 64)
    if not code:
        raise Open311Error(400, "service_code: bắt buộc (service_code is required)")
    service = catalog.get(code)
    if service is None:
        raise Open311Error(400, f"service_code không tồn tại (service_code not found): {code}")
    lat = _coordinate(fields, "lat", 90)
    lon = _coordinate(fields, "long", 180)
    client_key = _text(fields, "idempotency_key", 80) or idempotency_header.strip()
    if client_key and not _KEY_RE.match(client_key):
        raise Open311Error(400, "idempotency_key: 1-80 ký tự A-Z a-z 0-9 . _ : - (invalid characters)")
    name = " ".join(p for p in (_text(fields, "first_name", 64), _text(fields, "last_name", 64)) if p)
    return PostedRequest(
        service=service,
        lat=lat,
        lon=lon,
        address=_text(fields, "address_string", 500),
        description=_text(fields, "description", 4000),
        reporter_name=name,
        phone=_text(fields, "phone", 32),
        client_key=client_key,
        media_url=_text(fields, "media_url", 1000),
        extra={k: v for k in ("device_id", "account_id") if (v := _text(fields, k, 128))},
    )


def report_request(posted: PostedRequest, *, client: str, idempotency_key: str) -> incidents_pb2.ReportIncidentRequest:
    """The ``ReportIncident`` call for a posted request (source OPEN311)."""
    external = {"open311_client": client, **{f"open311_{k}": v for k, v in posted.extra.items()}}
    if posted.media_url:
        external["open311_media_url"] = posted.media_url
    return incidents_pb2.ReportIncidentRequest(
        category=posted.service.category,  # type: ignore[arg-type]
        subcategory=posted.service.subcategory,
        description=posted.description or posted.service.name_vi,
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
    if not ts.seconds and not ts.nanos:
        return None
    return ts.ToDatetime(tzinfo=ZoneInfo("UTC")).astimezone(tz).isoformat(timespec="seconds")


def to_service_request(
    incident: incidents_pb2.Incident, catalog: ServiceCatalog, *, lang: str, timezone: str
) -> dict[str, Any]:
    """One GeoReport v2 service request for an incident (no reporter data: incidents carry none)."""
    tz = ZoneInfo(timezone)
    service = catalog.for_incident(incident.category, incident.subcategory)
    note_vi, note_en = STATUS_NOTES.get(incident.status, ("", ""))
    return {
        "service_request_id": request_id(incident),
        "status": "open" if incident.status in OPEN else "closed",
        "status_notes": note_en if lang == "en" else note_vi,
        "service_name": (service.name_en if lang == "en" else service.name_vi) if service else None,
        "service_code": service.code if service else None,
        "description": incident.description,
        "agency_responsible": AGENCY_NAMES.get(incident.agency),
        "service_notice": None,
        "requested_datetime": _iso(incident.created_at, tz),
        "updated_datetime": _iso(incident.updated_at, tz),
        "expected_datetime": _iso(incident.sla_due_at, tz) if incident.status in OPEN else None,
        "address": incident.location.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": incident.location.lat,
        "long": incident.location.lon,
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
