"""The rules of subscribing: input validation and normalisation, roles, and event matching."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from cityops.dispatch.v1 import events_pb2 as dispatch_events
from cityops.incidents.v1 import events_pb2 as incident_events
from cityops_notifications import codes
from cityops_notifications.geo import Area
from cityops_notifications.notices.models import CAP_ALERT, INCIDENT_ESCALATED, SENSOR_ALERT, Notice
from cityops_notifications.subscriptions.models import (
    CHANNELS,
    LANGUAGES,
    PRIVILEGED_ROLES,
    Subscription,
    SubscriptionFilter,
    SubscriptionIn,
)
from cityops_platform.errors import FieldViolation, PermissionDenied, require
from cityops_platform.geo import coordinate_violations
from cityops_platform.geo.admin_units import admin_units, ward_violation_text


def _bodies(envelope: Any) -> list[str]:
    oneof = envelope.DESCRIPTOR.oneofs_by_name["body"]
    return [f.message_type.full_name for f in oneof.fields]


# Every event type a filter may name, by full name; short names ("IncidentReported") map onto these.
EVENT_TYPES: frozenset[str] = frozenset(
    [*_bodies(incident_events.IncidentEvent), *_bodies(dispatch_events.DispatchEvent), SENSOR_ALERT, CAP_ALERT]
)
_SHORT = {name.rsplit(".", 1)[1]: name for name in EVENT_TYPES}
CATEGORIES = frozenset(codes.CATEGORIES.codes)  # the city's registry
AGENCIES = frozenset(codes.AGENCIES.codes)
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_VN_PHONE = re.compile(r"^(?:\+84|84|0)([1-9]\d{8})$")
_INTL_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")


def owner_role(roles: frozenset[str]) -> str:
    """The role a subscription is held under: privileged first, citizen only when nothing else."""
    for role in ("admin", "supervisor", "integrator", "operator", "dispatcher", "call_taker"):
        if role in roles:
            return role
    return "citizen" if "citizen" in roles else next(iter(sorted(roles)), "")


def normalise_language(value: str) -> str | None:
    code = value.strip().lower().replace("_", "-").split("-", 1)[0] if value.strip() else LANGUAGES[0]
    return code if code in LANGUAGES else None


def normalise_address(channel: str, address: str) -> tuple[str, str | None]:
    """(normalised address, problem or None)."""
    value = address.strip()
    if not value:
        return value, "bắt buộc (required)"
    if channel == "WEBHOOK":
        url = urlparse(value)
        if url.scheme not in ("http", "https") or not url.hostname or len(value) > 2048:
            return value, "phải là URL http(s) (must be an http(s) URL)"
        return value, None
    if channel == "EMAIL":
        if len(value) > 254 or not _EMAIL.match(value):
            return value, "địa chỉ email không hợp lệ (invalid e-mail address)"
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}", None
    digits = re.sub(r"[\s.\-()]", "", value)
    match = _VN_PHONE.match(digits)
    if match:
        return f"+84{match.group(1)}", None
    if _INTL_PHONE.match(digits):
        return digits, None
    return value, "số điện thoại không hợp lệ (invalid phone number, e.g. +84912345678)"


def mask_address(channel: str, address: str) -> str:
    """An address safe to show in lists and events: 'n***@example.vn', '*******678' (a phone keeps
    only its last three digits, as everywhere else)."""
    if channel == "EMAIL":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if channel == "SMS":
        digits = "".join(ch for ch in address if ch.isdigit())
        return f"{'*' * 7}{digits[-3:]}" if len(digits) > 6 else "***"
    url = urlparse(address)
    return f"{url.scheme}://{url.netloc}/***"


def validate_area(area: Area | None, violations: list[FieldViolation], path: str) -> None:
    if area is None:
        return
    points = list(area.polygon) + ([area.circle.center] if area.circle else [])
    for i, p in enumerate(points):
        where = f"{path}.circle.center" if area.circle and p is area.circle.center else f"{path}.polygon.points[{i}]"
        violations.extend(coordinate_violations(p.lat, p.lon, where))
    if area.circle is not None and not 0 < area.circle.radius_m <= 500_000:
        violations.append(FieldViolation(f"{path}.circle.radius_m", "phải trong (0, 500000] (must be in (0, 500000])"))
    if area.circle is None and len(set(area.polygon)) < 3:
        violations.append(FieldViolation(f"{path}.polygon.points", "cần ít nhất 3 đỉnh (at least 3 vertices)"))


def validate_subscription(sub_in: SubscriptionIn) -> SubscriptionIn:
    """The normalised request, or ``ValidationFailed`` naming every bad field."""
    v: list[FieldViolation] = []
    p = "subscription"
    if sub_in.channel not in CHANNELS:
        v.append(FieldViolation(f"{p}.channel", "phải là WEBHOOK, EMAIL hoặc SMS (must be WEBHOOK, EMAIL or SMS)"))
        address = sub_in.address
    else:
        address, problem = normalise_address(sub_in.channel, sub_in.address)
        if problem:
            v.append(FieldViolation(f"{p}.address", problem))
    language = normalise_language(sub_in.language)
    if language is None:
        v.append(FieldViolation(f"{p}.language", "phải là 'vi' hoặc 'en' (must be 'vi' or 'en')"))
    if sub_in.channel == "WEBHOOK" and not 16 <= len(sub_in.secret) <= 256:
        v.append(FieldViolation(f"{p}.secret", "webhook cần secret 16-256 ký tự (webhooks need a 16-256 char secret)"))
    if len(sub_in.description) > 500:
        v.append(FieldViolation(f"{p}.description", "tối đa 500 ký tự (at most 500 characters)"))
    f = sub_in.filter
    event_types = []
    for i, name in enumerate(f.event_types):
        full = name if name in EVENT_TYPES else _SHORT.get(name)
        if full is None:
            v.append(FieldViolation(f"{p}.filter.event_types[{i}]",
                                    f"loại sự kiện không tồn tại (unknown event type '{name}')"))
        else:
            event_types.append(full)
    categories = []
    for i, name in enumerate(f.categories):
        code = codes.category_from_filter(name)
        if code is None:
            v.append(FieldViolation(f"{p}.filter.categories[{i}]",
                                    f"danh mục không tồn tại (unknown category '{name}'); "
                                    f"known codes: {codes.CATEGORIES.known()}"))
        else:
            categories.append(code)
    if not 0 <= f.min_priority <= 4:
        v.append(FieldViolation(f"{p}.filter.min_priority", "phải trong khoảng 0..4 (must be within 0..4)"))
    agencies: list[str] = []
    n_enums = sum(1 for a in f.agencies if isinstance(a, int))
    for i, value in enumerate(f.agencies):  # old clients' enum numbers first, then the city's codes
        agency = codes.agency_from_enum(value) if isinstance(value, int) else (value if value in AGENCIES else None)
        if agency is None:
            where = f"agencies[{i}]" if isinstance(value, int) else f"agency_codes[{i - n_enums}]"
            v.append(FieldViolation(f"{p}.filter.{where}", f"cơ quan không tồn tại (unknown agency {value!r}); "
                                    f"known codes: {codes.AGENCIES.known()}"))
        else:
            agencies.append(agency)
    validate_area(f.area, v, f"{p}.filter.area")
    if len(f.incident_id) > 64:
        v.append(FieldViolation(f"{p}.filter.incident_id", "tối đa 64 ký tự (at most 64 characters)"))
    units = admin_units()
    wards: list[str] = []
    for i, code in enumerate(f.ward_codes):
        if units.get(code.strip()) is None:
            v.append(FieldViolation(f"{p}.filter.ward_codes[{i}]", ward_violation_text()))
        wards.append(code.strip())
    districts = tuple(d.strip() for d in f.districts if d.strip())
    for i, name in enumerate(districts):  # deprecated: a ward, or a former district = the units it became
        unit_codes = units.filter_codes(name)
        if not unit_codes:
            v.append(FieldViolation(f"{p}.filter.districts[{i}]", "không phải phường/xã hay quận/huyện cũ của "
                                    "thành phố (names no ward, commune or former district of the city)"))
        wards += unit_codes
    require(v)
    clean = SubscriptionFilter(
        event_types=tuple(dict.fromkeys(event_types)),
        categories=tuple(dict.fromkeys(categories)),
        min_priority=f.min_priority,
        area=f.area,
        agencies=tuple(sorted(set(agencies))),
        districts=districts,
        incident_id=f.incident_id.strip(),
        ward_codes=tuple(dict.fromkeys(wards)),
    )
    return SubscriptionIn(channel=sub_in.channel, address=address, language=language or LANGUAGES[0],
                          secret=sub_in.secret, description=sub_in.description.strip(), filter=clean)


def check_role(sub_in: SubscriptionIn, role: str) -> None:
    """Supervisors (and admins) subscribe to escalations; citizens only follow their own report by SMS/email."""
    if INCIDENT_ESCALATED in sub_in.filter.event_types and role not in PRIVILEGED_ROLES:
        raise PermissionDenied(
            "Chỉ giám sát viên được đăng ký nhận cảnh báo leo thang (only supervisors subscribe to escalations)"
        )
    if role == "citizen":
        if not sub_in.filter.incident_id:
            raise PermissionDenied(
                "Người dân chỉ theo dõi phản ánh của chính mình: cần filter.incident_id "
                "(citizens may only follow their own report: filter.incident_id is required)"
            )
        if sub_in.channel == "WEBHOOK":
            raise PermissionDenied("Người dân nhận tin qua SMS hoặc email (citizens use SMS or e-mail)")


def matches(sub: Subscription, notice: Notice, *, follows: bool = False) -> bool:
    """Whether ``notice`` is for ``sub``. ``follows``: the owner reported the notice's incident."""
    if not sub.active:
        return False
    f = sub.filter
    if f.event_types and notice.event_type not in f.event_types:
        return False
    if notice.event_type == INCIDENT_ESCALATED and sub.owner_role not in PRIVILEGED_ROLES:
        return False
    if sub.owner_role == "citizen" and not (follows and f.incident_id == notice.incident_id):
        return False
    if f.incident_id and notice.incident_id != f.incident_id:
        return False
    if f.categories and notice.category not in f.categories:
        return False
    if f.min_priority and not 1 <= notice.priority <= f.min_priority:
        return False
    if f.agencies and notice.agencies.isdisjoint(f.agencies):
        return False
    if f.ward_codes and notice.ward_code not in f.ward_codes:
        return False
    if f.area is not None:
        inside = notice.location is not None and f.area.contains(notice.location)
        if not inside and not (notice.area is not None and notice.area.overlaps(f.area)):
            return False
    return True
