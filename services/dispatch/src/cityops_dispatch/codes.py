"""The city's agency and category codes on dispatch's API and events (cityops_platform.city).

Dispatch keys units, stations, run cards and its incident view on codes. Older clients send and read
the protobuf enums; these helpers bridge both ways through the city's registry.
"""

from __future__ import annotations

from collections.abc import Sequence

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_platform.city import CodeRegistry, UnknownCode, current_city
from cityops_platform.errors import FieldViolation, ValidationFailed

CATEGORIES = CodeRegistry.categories(current_city())
AGENCIES = CodeRegistry.agencies(current_city())


def _name(enum: object, value: int, prefix: str) -> str:
    if not value:
        return ""
    try:
        return str(enum.Name(value))[len(prefix):]  # type: ignore[attr-defined]
    except ValueError:
        return f"UNKNOWN({value})"


def agency_code(code: str, enum: int, *, field: str = "agency") -> str:
    """The code a request means (``agency_code`` wins, else the enum's); "" when neither is set."""
    try:
        return AGENCIES.resolve(code=code, enum_name=_name(common_pb2.Agency, enum, "AGENCY_"),
                                code_field=f"{field}_code", enum_field=field) or ""
    except UnknownCode as exc:
        raise ValidationFailed([exc.violation]) from exc


def agency_codes(codes: Sequence[str], enums: Sequence[int], out: list[FieldViolation]) -> list[str]:
    """The codes a filter means (enum values and codes joined); violations go into ``out``."""
    return AGENCIES.resolve_many(codes=list(codes), enum_names=[_name(common_pb2.Agency, v, "AGENCY_") for v in enums],
                                 code_field="agency_codes", enum_field="agencies", out=out)


def agency_enum(code: str) -> int:
    """The Agency value older clients read for ``code`` (0 when the city's code has none)."""
    name = AGENCIES.enum_of(code)
    return int(common_pb2.Agency.Value(f"AGENCY_{name}")) if name else 0


def incident_category(incident: incidents_pb2.Incident) -> str:
    """The category code of an incident snapshot (its code, or its enum's for an older producer)."""
    return incident.category_code or CATEGORIES.by_enum.get(
        _name(incidents_pb2.Category, incident.category, "CATEGORY_"), "")


def incident_agency(incident: incidents_pb2.Incident) -> str:
    return incident.agency_code or AGENCIES.by_enum.get(_name(common_pb2.Agency, incident.agency, "AGENCY_"), "")


def category_enum(code: str) -> int:
    name = CATEGORIES.enum_of(code)
    return int(incidents_pb2.Category.Value(f"CATEGORY_{name}")) if name else 0
