"""Delivery domain types and statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PENDING = "PENDING"
SENT = "SENT"
FAILED = "FAILED"
DEAD_LETTERED = "DEAD_LETTERED"
SUPPRESSED = "SUPPRESSED"
STATUSES = (PENDING, SENT, FAILED, DEAD_LETTERED, SUPPRESSED)
REPLAYABLE = frozenset({FAILED, DEAD_LETTERED, SUPPRESSED})


@dataclass(frozen=True)
class Delivery:
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    source_topic: str
    channel: str
    language: str
    status: str
    attempts: int
    max_attempts: int
    last_error: str
    next_attempt_at: datetime | None
    sent_at: datetime | None
    parts: int
    created_at: datetime
    updated_at: datetime
    address_masked: str


@dataclass(frozen=True)
class Job:
    """A claimed delivery with what sending needs: the full address, the notice, the sealed secret."""

    delivery: Delivery
    address: str
    notice: dict[str, object]
    secret_sealed: bytes | None
    rate_checked: bool
    owner_role: str = ""  # the subscription owner's role: a citizen's resolution message carries a rating link
