"""Subscription domain types (no protobuf, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cityops_notifications.geo import Area
from cityops_platform.city import current_city

CHANNELS = ("WEBHOOK", "EMAIL", "SMS")
LANGUAGES = current_city().languages  # the city's, the first is the default
PRIVILEGED_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class SubscriptionFilter:
    """Empty lists match everything; ``min_priority`` 0 matches any priority."""

    event_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_priority: int = 0
    area: Area | None = None
    # The city's agency codes (a request may hold old clients' enum numbers until validated).
    agencies: tuple[str | int, ...] = ()
    districts: tuple[str, ...] = ()  # deprecated: kept as given; expanded into ward_codes
    incident_id: str = ""
    ward_codes: tuple[str, ...] = ()  # commune-level units (codes of the city's registry)


@dataclass(frozen=True)
class SubscriptionIn:
    """What a caller asks for; validated and normalised by ``service.validate_subscription``."""

    channel: str
    address: str
    language: str = ""
    secret: str = ""
    description: str = ""
    filter: SubscriptionFilter = field(default_factory=SubscriptionFilter)


@dataclass(frozen=True)
class Subscription:
    id: str
    owner: str
    owner_role: str
    channel: str
    address: str
    language: str
    description: str
    filter: SubscriptionFilter
    active: bool
    created_at: datetime
    has_secret: bool
