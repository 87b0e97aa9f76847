"""Input validation: every bad field is named (``location.lat``), all of them at once."""

from __future__ import annotations

import uuid
from datetime import datetime

from cityops_incidents.geo import inside_polygon
from cityops_incidents.incidents import lifecycle
from cityops_incidents.incidents.models import CATEGORIES, SOURCES, STATUSES, ReportIn, TransitionIn
from cityops_incidents.rules import Rules, parse_duration
from cityops_incidents.text import is_valid_phone
from cityops_platform.errors import FieldViolation, ValidationFailed, require
from cityops_platform.geo import coordinate_violations

REQUIRED = "bắt buộc (required)"


def too_long(limit: int) -> str:
    return f"dài quá {limit} ký tự (longer than {limit} characters)"


def unknown(value: str) -> str:
    return f"giá trị không hợp lệ: {value} (unknown value)"


def check_length(out: list[FieldViolation], path: str, value: str, limit: int) -> None:
    if len(value) > limit:
        out.append(FieldViolation(path, too_long(limit)))


def check_required_text(out: list[FieldViolation], path: str, value: str, limit: int) -> None:
    """A text a person must write: not blank, and at most ``limit`` characters."""
    if not value.strip():
        out.append(FieldViolation(path, REQUIRED))
    check_length(out, path, value, limit)


def check_location(out: list[FieldViolation], rules: Rules, path: str, lat: float, lon: float) -> None:
    """Coordinates must be finite, in range and inside the service area."""
    bad = coordinate_violations(lat, lon, path)
    out.extend(bad)
    if not bad and not inside_polygon(lat, lon, rules.area_polygon):
        out.append(FieldViolation(
            path, f"nằm ngoài vùng phục vụ {rules.area_name} (outside the service area)"))


def check_uuid(out: list[FieldViolation], path: str, value: str) -> None:
    if not value:
        out.append(FieldViolation(path, REQUIRED))
        return
    try:
        uuid.UUID(value)
    except ValueError:
        out.append(FieldViolation(path, "không phải UUID (not a UUID)"))


def validate_report(rules: Rules, r: ReportIn, *, now: datetime) -> None:
    """Raise ``ValidationFailed`` naming every bad field of a report."""
    out: list[FieldViolation] = []
    if not r.category:
        out.append(FieldViolation("category", REQUIRED))
    elif r.category not in CATEGORIES:
        out.append(FieldViolation("category", f"{unknown(r.category)}; known codes: {', '.join(sorted(CATEGORIES))}"))
    if not r.source:
        out.append(FieldViolation("source", REQUIRED))
    elif r.source not in SOURCES:
        out.append(FieldViolation("source", unknown(r.source)))
    if not r.has_location:
        out.append(FieldViolation("location", REQUIRED))
    else:
        check_location(out, rules, "location", r.lat, r.lon)
        check_length(out, "location.address", r.address, rules.limit("address"))
    if not r.idempotency_key.strip():
        out.append(FieldViolation("idempotency_key", REQUIRED))
    check_length(out, "idempotency_key", r.idempotency_key, rules.limit("idempotency_key"))
    check_length(out, "subcategory", r.subcategory, rules.limit("subcategory"))
    check_length(out, "description", r.description, rules.limit("description"))
    check_length(out, "reporter.name", r.reporter_name, rules.limit("reporter_name"))
    if r.reporter_phone and not is_valid_phone(r.reporter_phone):
        out.append(FieldViolation(
            "reporter.phone", "số điện thoại không hợp lệ, ví dụ 0912345678 (invalid Vietnamese phone number)"))
    if r.occurred_at is not None and r.occurred_at > now + parse_duration(rules.limits.get("future_skew", "2m")):
        out.append(FieldViolation("occurred_at", "không được ở tương lai (must not be in the future)"))
    if len(r.external_ids) > rules.limit("external_ids"):
        out.append(FieldViolation("external_ids", f"tối đa {rules.limit('external_ids')} mục (too many entries)"))
    for key, value in r.external_ids.items():
        if not key or len(key) > rules.limit("external_id_key"):
            out.append(FieldViolation(f"external_ids[{key[:40]}]", "khóa rỗng hoặc quá dài (empty or long key)"))
        check_length(out, f"external_ids[{key[:40]}]", value, rules.limit("external_id_value"))
    if r.priority_override and r.priority_override not in (1, 2, 3, 4):
        out.append(FieldViolation("priority_override", unknown(str(r.priority_override))))
    require(out)


def validate_transition(rules: Rules, t: TransitionIn) -> None:
    out: list[FieldViolation] = []
    check_uuid(out, "id", t.incident_id)
    if not t.to_status:
        out.append(FieldViolation("to_status", REQUIRED))
    elif t.to_status not in STATUSES:
        out.append(FieldViolation("to_status", unknown(t.to_status)))
    check_length(out, "reason", t.reason, rules.limit("reason"))
    if t.to_status in lifecycle.REASON_REQUIRED and not t.reason.strip():
        out.append(FieldViolation("reason", f"bắt buộc khi chuyển sang {t.to_status} (required for {t.to_status})"))
    if t.to_status == "DUPLICATE":
        check_uuid(out, "duplicate_of", t.duplicate_of)
        if t.duplicate_of == t.incident_id:
            out.append(FieldViolation("duplicate_of", "không thể trùng với chính nó (cannot duplicate itself)"))
    check_expected_version(out, t.expected_version)
    check_length(out, "idempotency_key", t.idempotency_key, rules.limit("idempotency_key"))
    require(out)


def check_expected_version(out: list[FieldViolation], value: int) -> None:
    """Optimistic concurrency is not optional: every mutation names the version it was based on."""
    if value == 0:
        out.append(FieldViolation("expected_version", "bắt buộc: phiên bản sự cố đã xem (required: the "
                                                      "Incident.version the change is based on)"))
    elif value < 0:
        out.append(FieldViolation("expected_version", "phải >= 1 (must be >= 1)"))


def validate_note(rules: Rules, incident_id: str, text: str, idempotency_key: str = "") -> None:
    out: list[FieldViolation] = []
    check_uuid(out, "id", incident_id)
    check_required_text(out, "text", text, rules.limit("note"))
    check_length(out, "idempotency_key", idempotency_key, rules.limit("idempotency_key"))
    require(out)


def validate_id(incident_id: str, path: str = "id") -> None:
    out: list[FieldViolation] = []
    check_uuid(out, path, incident_id)
    require(out)


def invalid(path: str, description: str) -> ValidationFailed:
    return ValidationFailed([FieldViolation(path, description)])
