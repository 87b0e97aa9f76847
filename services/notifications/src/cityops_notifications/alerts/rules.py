"""Validation of CAP content and the notice a published alert fans out as."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from cityops_notifications.alerts.cap_xml import cap_time
from cityops_notifications.alerts.conformance import control_character
from cityops_notifications.alerts.models import (
    CATEGORIES,
    CERTAINTIES,
    RESPONSE_TYPES,
    SCOPES,
    SEVERITIES,
    STATUSES,
    URGENCIES,
    AlertIn,
    CapAlert,
    CapInfo,
)
from cityops_notifications.geo import Area
from cityops_notifications.notices.models import CAP_ALERT, Notice
from cityops_notifications.subscriptions.rules import validate_area
from cityops_platform.city import current_city
from cityops_platform.errors import FieldViolation, require

_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PRIORITY = {"Extreme": 1, "Severe": 1, "Moderate": 2, "Minor": 3}


def _language_rank(info: CapInfo) -> int:
    """The city's languages in their order (city.yaml), then any other."""
    lang = info.language.lower().split("-", 1)[0]
    languages = current_city().languages
    return languages.index(lang) if lang in languages else len(languages)


_INFO_TEXTS = ("language", "event", "headline", "sender_name", "web", "contact")
_INFO_FREE_TEXTS = ("description", "instruction")


def check_text(value: str, path: str, v: list[FieldViolation], *, free_text: bool = False) -> None:
    """Refuse control characters (CAP text must be valid XML 1.0 character data; free text may keep
    tab and line breaks)."""
    bad = control_character(value, free_text=free_text)
    if bad:
        v.append(FieldViolation(path, f"chứa ký tự điều khiển {bad} (contains the control character {bad})"))


def check_note(value: str, path: str, v: list[FieldViolation]) -> None:
    """A free-text note or reason of the workflow: no control characters, at most 2000 characters."""
    check_text(value, path, v, free_text=True)
    if len(value) > 2000:
        v.append(FieldViolation(path, "tối đa 2000 ký tự (at most 2000 characters)"))


def validate_infos(
    infos: tuple[CapInfo, ...], path: str, v: list[FieldViolation], *, now: datetime | None = None
) -> tuple[CapInfo, ...]:
    """Check every info block; returns them in the city's language order, then the rest. With
    ``now``, an ``expires`` already past is refused (it could never be published)."""
    if not infos:
        v.append(FieldViolation(path, "cần ít nhất một khối info (at least one info block)"))
    if len(infos) > 6:
        v.append(FieldViolation(path, "tối đa 6 khối info (at most 6 info blocks)"))
    seen: set[str] = set()
    for i, info in enumerate(infos):
        p = f"{path}[{i}]"
        if not _LANG.match(info.language):
            v.append(FieldViolation(f"{p}.language", "mã ngôn ngữ RFC 3066, ví dụ vi-VN (RFC 3066 code, e.g. vi-VN)"))
        elif info.language.lower() in seen:
            v.append(FieldViolation(f"{p}.language", "ngôn ngữ bị lặp (duplicate language)"))
        seen.add(info.language.lower())
        if not info.categories:
            v.append(FieldViolation(f"{p}.categories", "cần ít nhất một danh mục (at least one category)"))
        v.extend(FieldViolation(f"{p}.categories[{j}]", "danh mục CAP không hợp lệ (invalid CAP category)")
                 for j, c in enumerate(info.categories) if c not in CATEGORIES)
        if not info.event.strip() or len(info.event) > 200:
            v.append(FieldViolation(f"{p}.event", "bắt buộc, tối đa 200 ký tự (required, at most 200 chars)"))
        for name, allowed in (("urgency", URGENCIES), ("severity", SEVERITIES), ("certainty", CERTAINTIES)):
            if getattr(info, name) not in allowed:
                v.append(FieldViolation(f"{p}.{name}", "bắt buộc (required)"))
        v.extend(FieldViolation(f"{p}.response_types[{j}]", "không hợp lệ (invalid)")
                 for j, r in enumerate(info.response_types) if r not in RESPONSE_TYPES)
        if len(info.headline) > 160:
            v.append(FieldViolation(f"{p}.headline", "tối đa 160 ký tự (at most 160 characters)"))
        for name in ("description", "instruction"):
            if len(getattr(info, name)) > 4000:
                v.append(FieldViolation(f"{p}.{name}", "tối đa 4000 ký tự (at most 4000 characters)"))
        if info.area is not None:
            if not info.area.area_desc.strip():
                v.append(FieldViolation(f"{p}.area.area_desc", "bắt buộc (required)"))
            if info.area.circle is None and not info.area.polygon:
                v.append(FieldViolation(f"{p}.area", "cần polygon hoặc circle (a polygon or a circle)"))
            else:
                validate_area(info.area.as_area(), v, f"{p}.area")
        if info.effective and info.expires and info.expires <= info.effective:
            v.append(FieldViolation(f"{p}.expires", "phải sau effective (must be after effective)"))
        if info.onset and info.expires and info.expires <= info.onset:
            v.append(FieldViolation(f"{p}.expires", "phải sau onset (must be after onset)"))
        if now is not None and info.expires and info.expires <= now:
            v.append(FieldViolation(f"{p}.expires", "đã qua (already past)"))
        for name in _INFO_TEXTS:
            check_text(getattr(info, name), f"{p}.{name}", v)
        for name in _INFO_FREE_TEXTS:
            check_text(getattr(info, name), f"{p}.{name}", v, free_text=True)
        if info.area is not None:
            check_text(info.area.area_desc, f"{p}.area.area_desc", v)
    if infos and all(i.area is None for i in infos):
        v.append(FieldViolation(f"{path}[0].area", "cần khu vực cảnh báo (a warning area is required)"))
    return tuple(sorted(infos, key=_language_rank))


def validate_alert(alert_in: AlertIn, *, now: datetime | None = None) -> AlertIn:
    """The alert with infos in language order, or ``ValidationFailed`` naming every bad field."""
    v: list[FieldViolation] = []
    for name in ("restriction", "addresses", "incident_id"):
        check_text(getattr(alert_in, name), f"alert.{name}", v)
    check_text(alert_in.note, "alert.note", v, free_text=True)
    if alert_in.status not in STATUSES:
        v.append(FieldViolation("alert.status", "không hợp lệ (invalid)"))
    if alert_in.scope not in SCOPES:
        v.append(FieldViolation("alert.scope", "không hợp lệ (invalid)"))
    if alert_in.scope == "Restricted" and not alert_in.restriction.strip():
        v.append(FieldViolation("alert.restriction", "bắt buộc khi scope là RESTRICTED (required for RESTRICTED)"))
    if alert_in.scope == "Private" and not alert_in.addresses.strip():
        v.append(FieldViolation("alert.addresses", "bắt buộc khi scope là PRIVATE (required for PRIVATE)"))
    if len(alert_in.incident_id) > 64 or any(c.isspace() for c in alert_in.incident_id):
        v.append(FieldViolation("alert.incident_id", "tối đa 64 ký tự, không khoảng trắng (≤64 chars, no spaces)"))
    if len(alert_in.note) > 2000:
        v.append(FieldViolation("alert.note", "tối đa 2000 ký tự (at most 2000 characters)"))
    infos = validate_infos(alert_in.infos, "alert.infos", v, now=now)
    require(v)
    return replace(alert_in, infos=infos)


def notice_for(alert: CapAlert, *, sent: datetime) -> Notice:
    """The notice a published alert fans out as: to subscribers whose area overlaps the alert's."""
    area: Area | None = None
    for info in alert.infos:
        if info.area is not None:
            area = info.area.as_area()
            break
    infos = {
        info.language.split("-")[0].lower(): {
            "headline": info.headline, "event": info.event, "severity": info.severity,
            "urgency": info.urgency, "area_desc": info.area.area_desc if info.area else "",
            "description": info.description, "instruction": info.instruction, "sender_name": info.sender_name,
        }
        for info in alert.infos
    }
    severity = alert.infos[0].severity if alert.infos else "Unknown"
    return Notice(
        event_id=alert.id,
        event_type=CAP_ALERT,
        source_topic="cap",
        occurred_at=sent,
        template="cap_alert",
        incident_id=alert.incident_id,
        priority=_PRIORITY.get(severity, 3),
        area=area,
        urgent=True,
        context={"msg_type": alert.msg_type, "identifier": alert.identifier, "sender": alert.sender,
                 "note": alert.note, "infos": infos, "occurred_at": sent.isoformat()},
        data={"identifier": alert.identifier, "sender": alert.sender, "sent": cap_time(sent),
              "msgType": alert.msg_type, "references": list(alert.references), "xml": alert.xml},
    )
