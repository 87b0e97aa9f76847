"""Proto ⇄ domain codecs written once: timestamps, enum names and the acting principal.

- Timestamps: every datetime leaves as UTC (an aware value is converted; a naive one is taken as
  UTC, which is what protobuf assumes), and every Timestamp comes back as an aware UTC datetime;
  one outside years 1-9999 is bad input (INVALID_ARGUMENT on the named field), not a crash.
- Page tokens: opaque to clients; inside, the keyset of the last row returned (URL-safe base64
  of a JSON list of strings). A token that does not decode is INVALID_ARGUMENT on ``page_token``.
- Actor: who caused a change (the verified caller, or a service itself), and its proto.
- Enums: the domain speaks the short name (``FIELD_REPORT`` for ``CATEGORY_FIELD_REPORT``), ""
  for the zero value; a number the proto does not know yet becomes ``UNKNOWN(<n>)`` so that
  validation can name the field instead of failing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.common.v1 import common_pb2
from cityops_platform import auth
from cityops_platform.errors import FieldViolation, ValidationFailed

INVALID_TIMESTAMP = "thời điểm không hợp lệ (invalid timestamp)"
INVALID_PAGE_TOKEN = "mã trang không hợp lệ (invalid page token)"


def to_timestamp(value: datetime) -> Timestamp:
    """The Timestamp of ``value`` (converted to UTC when it carries a zone)."""
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC) if value.tzinfo is not None else value)
    return out


def timestamp_or_none(value: datetime | None) -> Timestamp | None:
    """``to_timestamp``, with None for None (an unset message field)."""
    return None if value is None else to_timestamp(value)


def set_timestamp(target: Timestamp, value: datetime | None) -> None:
    """Fill a message's Timestamp field in place, leaving it unset for None."""
    if value is not None:
        target.CopyFrom(to_timestamp(value))


def from_timestamp(value: Timestamp, field: str = "timestamp") -> datetime:
    """The aware UTC datetime of a Timestamp; out of range is ValidationFailed on ``field``."""
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed([FieldViolation(field, INVALID_TIMESTAMP)]) from exc


def is_set(value: Timestamp) -> bool:
    """A Timestamp other than the epoch default (proto3 scalars have no presence)."""
    return bool(value.seconds or value.nanos)


def enum_name(enum: Any, prefix: str, value: int) -> str:
    """``FIELD_REPORT`` for Category 2; "" for 0; ``UNKNOWN(42)`` for a number the proto does not know."""
    if value == 0:
        return ""
    try:
        return str(enum.Name(value))[len(prefix):]
    except ValueError:
        return f"UNKNOWN({value})"


def enum_value(enum: Any, prefix: str, name: str) -> Any:  # the proto ValueType, an int
    """The number of ``<prefix><name>``; 0 for "" (unset). An unknown name raises ValueError."""
    return int(enum.Value(f"{prefix}{name}")) if name else 0


def encode_page_token(*keys: str) -> str:
    """The next page's token: the keyset (sort keys) of the last row of this page."""
    return base64.urlsafe_b64encode(json.dumps(list(keys)).encode()).decode().rstrip("=")


def decode_page_token(token: str, keys: int, field: str = "page_token") -> list[str]:
    """The ``keys`` strings of a token from :func:`encode_page_token` ([] for ""); anything else
    is ValidationFailed on ``field``."""
    if not token:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        data = None
    if not isinstance(data, list) or len(data) != keys or not all(isinstance(k, str) for k in data):
        raise ValidationFailed([FieldViolation(field, INVALID_PAGE_TOKEN)])
    return data


@dataclass(frozen=True)
class Actor:
    """Who caused a change: from the verified token, or the service itself for workers and timers."""

    subject: str
    role: str

    @classmethod
    def current(cls) -> Actor:
        """The caller of the RPC being served (its first role; "system" when it has none)."""
        principal = auth.current_principal()
        return cls(principal.subject, principal.primary_role or "system")


def actor_pb(actor: Actor) -> common_pb2.Actor:
    return common_pb2.Actor(subject=actor.subject, role=actor.role)
