"""Proto enums and timestamps ↔ domain names, shared by the servicers and the worker."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform.codecs import from_timestamp, timestamp_or_none
from cityops_platform.errors import FieldViolation, ValidationFailed


def enum_name(enum: object, value: int, prefix: str, field: str, *, allow_unspecified: bool = False) -> str:
    """``SENSOR_KIND_WATER_LEVEL`` → ``WATER_LEVEL``; unknown values are INVALID_ARGUMENT."""
    try:
        name: str = enum.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        raise ValidationFailed([FieldViolation(field, f"giá trị không hợp lệ {value} (unknown enum value)")]) from None
    short = name.removeprefix(prefix)
    if short == "UNSPECIFIED":
        if allow_unspecified:
            return ""
        raise ValidationFailed([FieldViolation(field, "bắt buộc (required)")])
    return short


def enum_value(enum: object, prefix: str, name: str) -> int:
    return int(enum.Value(f"{prefix}{name}")) if name else 0  # type: ignore[attr-defined]


def kind_name(value: int, field: str, *, allow_unspecified: bool = False) -> str:
    return enum_name(pb.SensorKind, value, "SENSOR_KIND_", field, allow_unspecified=allow_unspecified)


def kind_value(name: str) -> int:
    return enum_value(pb.SensorKind, "SENSOR_KIND_", name)


def status_value(name: str) -> int:
    return enum_value(pb.SensorStatus, "SENSOR_STATUS_", name)


ts = timestamp_or_none


def ts_ms(ms: int) -> Timestamp:
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


from_ts = from_timestamp


def dt_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
