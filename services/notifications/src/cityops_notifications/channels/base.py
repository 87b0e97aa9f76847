"""The channel contract and its two kinds of failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cityops_notifications.rendering import Rendered


class TemporaryFailure(Exception):
    """Worth retrying later: timeouts, connection errors, 5xx, 429, SMTP 4xx."""


class PermanentFailure(Exception):
    """Retrying cannot help (4xx, a refused recipient): the delivery is dead-lettered at once."""


@dataclass(frozen=True)
class Outgoing:
    """One message for one recipient."""

    delivery_id: str
    event_id: str
    event_type: str
    occurred_at: str
    language: str
    message: Rendered
    data: dict[str, Any] = field(default_factory=dict)  # the source event, for machine receivers


class Channel(Protocol):
    async def send(self, *, address: str, outgoing: Outgoing, secret: str | None) -> int:
        """Deliver ``outgoing``; returns the number of parts sent. Raises Temporary/PermanentFailure."""
        ...

    async def close(self) -> None: ...
