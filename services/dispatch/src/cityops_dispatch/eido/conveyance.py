"""EIDO conveyance: on every change of an incident or of its assignments, POST the incident's current
EIDO to each partner CAD, signed per Standard Webhooks, from the dispatch worker (never a request).

Guarantees: one conveyance per (event, partner), whatever Kafka redelivers (its id, the
``webhook-id``, derives from both); every attempt carries that id and a fresh timestamp and
signature, so the partner can de-duplicate and check freshness; a partner URL must resolve to public
addresses only (checked at every attempt, connected to the checked address: ``cityops_platform.netguard``),
and a partner's response body is never recorded; temporary failures (network,
408/425/429/5xx, the view not caught up yet) are retried with exponential backoff and jitter; a
permanent failure (another 4xx) or the last attempt dead-letters it: an ``EidoConveyance`` on
``cityops.dispatch.eido-conveyances.v1.dlq``, committed with the row's final state.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from prometheus_client import Counter
from standardwebhooks.webhooks import Webhook

from cityops.dispatch.v1 import events_pb2
from cityops_dispatch import events
from cityops_dispatch.eido import conveyance_store as store
from cityops_dispatch.eido.partners import Partner
from cityops_dispatch.eido.service import ExportedEido
from cityops_platform import loops, metrics, netguard
from cityops_platform.db.outbox import outbox_record
from cityops_platform.errors import NotFound
from cityops_platform.failures import count_and_log
from cityops_platform.kafka.topics import EIDO_CONVEYANCES

log = logging.getLogger("cityops.dispatch.eido.conveyance")
PENDING, SENT, DEAD_LETTERED = "PENDING", "SENT", "DEAD_LETTERED"
USER_AGENT = "CityOps-Dispatch-EIDO/1"


def conveyance_id(event_id: str, partner: str) -> str:
    """The webhook-id of the conveyance of one event to one partner (stable across redeliveries)."""
    return "msg_" + hashlib.sha256(f"{event_id}|{partner}".encode()).hexdigest()[:32]


DEFERRED = Counter(
    "cityops_eido_conveyances_deferred_total",
    "EIDO conveyances put back because the incident was not in dispatch's view yet (not counted as attempts)",
)


def backoff_seconds(attempt: int, *, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before attempt ``attempt + 1``: base·2^(attempt-1), capped, with ±25 % jitter."""
    delay = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return float(delay * (0.75 + 0.5 * rand()))


def signed_headers(partner: Partner, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    signature = Webhook(partner.secret).sign(msg_id=message_id, timestamp=now.astimezone(UTC), data=body)
    return {
        "content-type": "application/json; charset=utf-8",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


class TemporaryFailure(Exception):
    def __init__(self, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.http_status = http_status


class PermanentFailure(TemporaryFailure):
    pass


class NotInViewYet(TemporaryFailure):
    """The incident is not in dispatch's view yet: the view and the conveyance are built from the same
    event by different agents, so the conveyance can be due first. Within ``view_wait_s`` of the
    conveyance's creation this is not an attempt (the partner was not called); after it, it is."""


@dataclass(frozen=True)
class ConveyanceSettings:
    max_attempts: int = 8
    backoff_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 5.0
    poll_s: float = 0.5
    batch: int = 16
    view_wait_s: float = 60.0  # how long "not in the view yet" is waited for before it counts as an attempt
    allow: tuple[netguard.Network, ...] = ()  # CITYOPS_OUTBOUND_ALLOW_CIDRS (see cityops_platform.netguard)


class Conveyor:
    """Queues conveyances for events and sends the due ones."""

    def __init__(
        self, *, pool: Callable[[], asyncpg.Pool], partners: tuple[Partner, ...],
        export: Callable[[str], Awaitable[ExportedEido]], settings: ConveyanceSettings,
        resolve: netguard.Resolver = netguard.system_resolve,
    ) -> None:
        self._resolve = resolve
        self._pool = pool
        self._partners = {p.name: p for p in partners}
        self._export = export
        self._s = settings
        self._clients = netguard.PinnedClients(lambda: httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 3.0)),
            follow_redirects=False,  # a redirect could carry a signed EIDO somewhere unexpected
            headers={"user-agent": USER_AGENT},
        ))
        self.wakeup = asyncio.Event()

    @property
    def partners(self) -> tuple[Partner, ...]:
        return tuple(self._partners.values())

    async def on_change(self, conn: asyncpg.Connection, *, event_id: str, incident_id: str, category: str) -> int:
        """Queue the conveyance of one change to every partner that wants the incident. Idempotent on
        (event id, partner): a redelivered event queues nothing."""
        if not event_id or not incident_id:
            return 0
        rows = [(conveyance_id(event_id, p.name), p.name, incident_id, event_id)
                for p in self._partners.values() if p.wants(category)]
        fresh = await store.queue(conn, rows)
        if fresh:
            self.wakeup.set()
        return fresh

    async def run(self, stopping: asyncio.Event) -> None:
        """Send until ``stopping`` is set; survives database outages."""
        await loops.drain(
            self.send_due, stopping=stopping, wakeup=self.wakeup, poll_s=self._s.poll_s,
            on_error=lambda exc: count_and_log(
                "eido_conveyance_loop", log, "EIDO conveyance loop failed; will retry", exc),
        )

    async def send_due(self) -> int:
        """Attempt every due conveyance once (a batch); returns how many were attempted."""
        now = datetime.now(UTC)
        lease = now + timedelta(seconds=self._s.timeout_s * 2 + 5)
        due = await store.claim_due(self._pool(), now=now, lease_until=lease, limit=self._s.batch)
        await asyncio.gather(*(self.attempt(c) for c in due))
        return len(due)

    async def attempt(self, conveyance: store.Conveyance) -> str:
        """One attempt of one conveyance; records the outcome and returns the new status."""
        attempts = conveyance.attempts + 1
        partner = self._partners.get(conveyance.partner)
        body = ""
        try:
            if partner is None:
                raise PermanentFailure(f"partner {conveyance.partner!r} is no longer configured")
            try:
                exported = await self._export(conveyance.incident_id)
            except NotFound as exc:  # the view has not caught up with the event yet
                raise NotInViewYet(f"incident not in dispatch's view yet: {exc}") from exc
            except Exception as exc:  # counted as an attempt, so a persistent fault ends in the DLQ
                raise TemporaryFailure(f"export failed: {exc!r}") from exc
            body = exported.json
            http_status = await self._post(partner, conveyance.id, body)
        except NotInViewYet as failure:
            if self._still_waiting_for_view(conveyance):
                return await self._defer(conveyance, partner, failure)
            permanent = attempts >= self._s.max_attempts
            return await self._failed(conveyance, partner, failure, attempts=attempts, permanent=permanent, body=body)
        except TemporaryFailure as failure:
            permanent = isinstance(failure, PermanentFailure) or attempts >= self._s.max_attempts
            return await self._failed(conveyance, partner, failure, attempts=attempts, permanent=permanent, body=body)
        await self._record(conveyance, partner, status=SENT, attempts=attempts, next_attempt_at=None, error="",
                           http_status=http_status, body=body)
        return SENT

    def _still_waiting_for_view(self, conveyance: store.Conveyance) -> bool:
        created = conveyance.created_at
        return created is not None and datetime.now(UTC) - created < timedelta(seconds=self._s.view_wait_s)

    async def _defer(self, conveyance: store.Conveyance, partner: Partner | None, failure: NotInViewYet) -> str:
        """Due again after one poll, with its attempts unchanged: nothing was sent."""
        retry_at = datetime.now(UTC) + timedelta(seconds=self._s.poll_s)
        await self._record(conveyance, partner, status=PENDING, attempts=conveyance.attempts,
                           next_attempt_at=retry_at, error=str(failure), http_status=0, body="")
        DEFERRED.inc()
        return PENDING

    async def _failed(
        self, conveyance: store.Conveyance, partner: Partner | None, failure: TemporaryFailure, *,
        attempts: int, permanent: bool, body: str,
    ) -> str:
        status = DEAD_LETTERED if permanent else PENDING
        retry_at = None if permanent else datetime.now(UTC) + timedelta(
            seconds=backoff_seconds(attempts, base_s=self._s.backoff_s, max_s=self._s.backoff_max_s))
        await self._record(conveyance, partner, status=status, attempts=attempts, next_attempt_at=retry_at,
                           error=str(failure), http_status=failure.http_status, body=body)
        metrics.ERRORS_SWALLOWED.labels("eido_conveyance_attempt").inc()
        log.warning("EIDO conveyance attempt failed", extra={
            "conveyance_id": conveyance.id, "partner": conveyance.partner, "attempt": attempts,
            "status": status, "error": str(failure)[:300]})
        return status

    async def _post(self, partner: Partner, message_id: str, body: str) -> int:
        headers = signed_headers(partner, message_id, body, datetime.now(UTC))
        try:
            # Resolved and checked at every attempt, connected to the checked address (DNS rebinding).
            response = await netguard.post(self._clients, partner.url, allow=self._s.allow, resolve=self._resolve,
                                           content=body.encode(), headers=headers)
        except netguard.UnsafeAddress as exc:
            raise PermanentFailure(f"partner address refused: {exc}") from exc
        except OSError as exc:
            raise TemporaryFailure(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise TemporaryFailure(type(exc).__name__) from exc
        if response.is_success:
            return response.status_code
        detail = f"HTTP {response.status_code}"  # never the partner's body
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise TemporaryFailure(detail, response.status_code)
        raise PermanentFailure(detail, response.status_code)

    async def _record(
        self, conveyance: store.Conveyance, partner: Partner | None, *, status: str, attempts: int,
        next_attempt_at: datetime | None, error: str, http_status: int, body: str,
    ) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            await store.record(conn, conveyance.id, status=status, attempts=attempts, next_attempt_at=next_attempt_at,
                               error=error, http_status=http_status)
            if status == PENDING:
                return
            message = events_pb2.EidoConveyance(
                conveyance_id=conveyance.id, partner=conveyance.partner, url=partner.url if partner else "",
                incident_id=conveyance.incident_id, event_id=conveyance.event_id, status=status, attempts=attempts,
                last_error=error[:1000], last_http_status=http_status, eido_json=body,
            )
            message.occurred_at.GetCurrentTime()
            topics = [EIDO_CONVEYANCES.name] + ([EIDO_CONVEYANCES.dlq.name] if status == DEAD_LETTERED else [])
            await events.enqueue(conn, *(
                outbox_record(topic=topic, key=conveyance.incident_id, message=message,
                              event_type="EidoConveyed" if status == SENT else "EidoConveyanceDeadLettered",
                              producer=events.PRODUCER)
                for topic in topics))

    async def close(self) -> None:
        await self._clients.aclose()
