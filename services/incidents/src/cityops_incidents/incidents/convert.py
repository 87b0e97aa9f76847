"""Proto ↔ domain: enum names, the city's category and agency codes, timestamps and the Incident
snapshot (which carries no PII)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents.models import Incident, TimelineEntry
from cityops_platform import codecs
from cityops_platform.city import CodeRegistry, UnknownCode, current_city
from cityops_platform.codecs import enum_name as enum_name  # re-exported: the one codec
from cityops_platform.codecs import enum_value as enum_value
from cityops_platform.codecs import from_timestamp, timestamp_or_none
from cityops_platform.errors import FieldViolation, ValidationFailed

CATEGORY_CODES = CodeRegistry.categories(current_city())
AGENCY_CODES = CodeRegistry.agencies(current_city())


def category_name(v: int) -> str:
    return enum_name(pb.Category, "CATEGORY_", v)


def source_name(v: int) -> str:
    return enum_name(pb.Source, "SOURCE_", v)


def status_name(v: int) -> str:
    return enum_name(pb.Status, "STATUS_", v)


def agency_name(v: int) -> str:
    return enum_name(common_pb2.Agency, "AGENCY_", v)


def category_code(code: str, enum: int, *, field: str = "category") -> str:
    """The city's category code a request means: ``<field>_code`` (checked against the registry),
    else the old enum value mapped through it; "" when neither is set. Unknown → ValidationFailed
    with a field violation that lists the known codes."""
    try:
        return CATEGORY_CODES.resolve(code=code, enum_name=category_name(enum), code_field=f"{field}_code",
                                      enum_field=field) or ""
    except UnknownCode as exc:
        raise ValidationFailed([exc.violation]) from exc


def agency_code(code: str, enum: int, *, field: str = "agency") -> str:
    """As ``category_code``, for agencies."""
    try:
        return AGENCY_CODES.resolve(code=code, enum_name=agency_name(enum), code_field=f"{field}_code",
                                    enum_field=field) or ""
    except UnknownCode as exc:
        raise ValidationFailed([exc.violation]) from exc


def category_codes(codes: Any, enums: Any, out: list[FieldViolation], *, field: str = "categories") -> tuple[str, ...]:
    """Every category code a filter means (``<field>``'s enums and ``category_codes`` joined)."""
    return tuple(CATEGORY_CODES.resolve_many(codes=list(codes), enum_names=[category_name(v) for v in enums],
                                             code_field="category_codes", enum_field=field, out=out))


def agency_codes(codes: Any, enums: Any, out: list[FieldViolation], *, field: str = "agencies") -> tuple[str, ...]:
    return tuple(AGENCY_CODES.resolve_many(codes=list(codes), enum_names=[agency_name(v) for v in enums],
                                           code_field="agency_codes", enum_field=field, out=out))


def category_enum(code: str) -> Any:
    """The Category value older clients read for a city code (UNSPECIFIED when it has none)."""
    return enum_value(pb.Category, "CATEGORY_", CATEGORY_CODES.enum_of(code) or "")


def agency_enum(code: str) -> Any:
    return enum_value(common_pb2.Agency, "AGENCY_", AGENCY_CODES.enum_of(code) or "")


def status_label(name: str) -> str:
    """The proto spelling used in timeline before/after ("STATUS_NEW")."""
    return f"STATUS_{name}" if name else ""


def priority_label(priority: int) -> str:
    return f"P{priority}"


ts = timestamp_or_none
from_ts = from_timestamp


actor_pb = codecs.actor_pb


def incident_pb(inc: Incident, eido: Mapping[int, int]) -> pb.Incident:
    """The public snapshot of an incident: everything but reporter PII (which it never holds)."""
    out = pb.Incident(
        id=inc.id,
        number=inc.number,
        category=category_enum(inc.category),
        category_code=inc.category,
        subcategory=inc.subcategory,
        priority=pb.Priority.ValueType(inc.priority),
        status=enum_value(pb.Status, "STATUS_", inc.status),
        description=inc.description,
        location=common_pb2.GeoPoint(lat=inc.lat, lon=inc.lon, address=inc.address),
        report_count=inc.report_count,
        sources=[enum_value(pb.Source, "SOURCE_", s) for s in inc.sources],
        agency=agency_enum(inc.agency),
        agency_code=inc.agency,
        version=inc.version,
        escalation_level=inc.escalation_level,
        duplicate_of=inc.duplicate_of,
        external_ids=inc.external_ids,
        sla_stage=enum_value(pb.SlaStage, "SLA_STAGE_", inc.sla_stage),
        district=inc.ward_name or inc.district,
        ward_code=inc.ward_code,
        ward_name=inc.ward_name,
        open_alert_ids=inc.open_alert_ids,
        reopen_count=inc.reopen_count,
        split_from=inc.split_from,
    )
    out.eido_priority = eido.get(inc.priority, 0)
    out.sla_working_time = inc.sla_working_time
    if inc.sla_remaining_s is not None:
        out.sla_remaining_seconds = inc.sla_remaining_s
    for name, field in (("sla_started_at", "sla_started_at"), ("sla_warn_at", "sla_warning_at"),
                        ("sla_paused_at", "sla_paused_at")):
        stamp = ts(getattr(inc, name))
        if stamp is not None:
            getattr(out, field).CopyFrom(stamp)
    for name in ("created_at", "updated_at", "occurred_at", "sla_due_at", "acknowledged_at", "dispatched_at",
                 "resolved_at", "closed_at"):
        stamp = ts(getattr(inc, name))
        if stamp is not None:
            getattr(out, name).CopyFrom(stamp)
    return out


def timeline_entry_pb(e: TimelineEntry) -> pb.TimelineEntry:
    return pb.TimelineEntry(at=ts(e.at), actor=actor_pb(e.actor), action=e.action, before=e.before, after=e.after,
                            detail=e.detail, version=e.version, event_id=e.event_id)
