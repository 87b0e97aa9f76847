"""The sender loop: claim due deliveries, apply the rate limit, render, send, record the outcome.

Guarantees: a delivery is attempted at most ``max_attempts`` times; failures are retried with
exponential backoff and jitter; the last failure (or a permanent one) dead-letters it with a record
on the DLQ topic; a recipient never gets more than its token bucket allows (extra messages are
SUPPRESSED, never silently dropped); every outcome and its DeliveryEvent commit together, in one
statement with the outcomes of the other deliveries recorded meanwhile (a group commit: one WAL
flush for a batch of webhooks instead of one per webhook).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
from cryptography.fernet import InvalidToken

from cityops_notifications.channels import Channel, Outgoing, PermanentFailure, TemporaryFailure
from cityops_notifications.deliveries import events, store
from cityops_notifications.deliveries.models import DEAD_LETTERED, FAILED, SENT, SUPPRESSED, Delivery, Job
from cityops_notifications.deliveries.policy import backoff_seconds
from cityops_notifications.ratinglink import RatingLinks
from cityops_notifications.rendering import Renderer, RenderMemo
from cityops_notifications.secretbox import SecretBox
from cityops_notifications.settings import NotificationsSettings
from cityops_platform import loops, metrics
from cityops_platform.db.groupwrite import GroupWriter
from cityops_platform.grpc.status import is_infrastructure_error

log = logging.getLogger("cityops.notifications.sender")


def _loop_failed(exc: Exception) -> None:
    metrics.ERRORS_SWALLOWED.labels("notifications_sender").inc()
    log.warning("sender loop error; will retry: %r", exc, extra={"error": repr(exc)[:300]})


class DeliverySender:
    def __init__(self, *, pool: asyncpg.Pool, channels: dict[str, Channel], renderer: Renderer,
                 box: SecretBox, settings: NotificationsSettings, wakeup: asyncio.Event | None = None) -> None:
        self._pool = pool
        self._channels = channels
        self._memo = RenderMemo(renderer)
        self._box = box
        self._s = settings
        self._limit = asyncio.Semaphore(settings.notify_concurrency)
        self._links = RatingLinks(jwt_secret=settings.jwt_secret)
        # Set by the fan-out after it committed deliveries: send now, not at the next poll.
        self._wakeup = wakeup or asyncio.Event()
        # The outcomes recorded while one write is in flight go together in the next (group commit).
        self._outcomes: GroupWriter[tuple[Delivery, str]] = GroupWriter(self._write_outcomes)

    async def run(self, stopping: asyncio.Event) -> None:
        """Send until ``stopping`` is set; survives database outages. The wake-up is cleared before
        claiming, never after: a wake-up during the claim is not lost."""
        await loops.drain(self.send_due, stopping=stopping, wakeup=self._wakeup,
                          poll_s=self._s.notify_poll_seconds, on_error=_loop_failed)

    async def send_due(self) -> int:
        """One batch: returns how many deliveries were handled."""
        jobs = await store.claim_due(self._pool, limit=self._s.notify_batch_size, lease_s=self._s.notify_claim_seconds)
        sendable = await self._admit_all(jobs)
        await asyncio.gather(*(self._guarded(job) for job in sendable))
        return len(jobs)

    async def _admit_all(self, jobs: list[Job]) -> list[Job]:
        """The jobs of a claim that may be sent: each recipient's bucket is spent once for all its jobs
        (one statement per recipient and claim, not one per delivery: a busy integrator's webhook gets
        every delivery of a surge, and one statement each queued them all on its bucket's row). Those
        without a token are recorded SUPPRESSED; a bucket created meanwhile by another sender, or a
        failed statement, leaves its jobs to ``deliver`` (one token each) or to their lease."""
        out: list[Job] = []
        suppressed: list[tuple[Job, int, float]] = []
        by_recipient: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            if job.rate_checked or self._urgent(job) is not False:
                out.append(job)  # urgent, or a notice that does not read: ``deliver`` deals with it alone
            else:
                by_recipient.setdefault((job.delivery.channel, job.address), []).append(job)
        for (channel, address), waiting in by_recipient.items():
            burst, window = self._s.rate_limit(channel)
            try:
                granted = await store.take_tokens(self._pool, recipient=f"{channel}:{address}", burst=burst,
                                                  window_s=window, delivery_ids=[j.delivery.id for j in waiting])
            except Exception as exc:
                metrics.ERRORS_SWALLOWED.labels("notifications_rate_limit").inc()
                log.warning("rate limit not checked; leases will expire: %r", exc, extra={"error": repr(exc)[:300]})
                continue
            if granted is None:
                out += waiting
                continue
            out += [replace(job, rate_checked=True) for job in waiting[:granted]]
            suppressed += [(job, burst, window) for job in waiting[granted:]]
        # Together: their outcomes go in one group write.
        await asyncio.gather(*(self._guarded_suppress(job, burst, window) for job, burst, window in suppressed))
        return out

    async def _guarded_suppress(self, job: Job, burst: int, window: float) -> None:
        try:
            await self._record(job, status=SUPPRESSED, error=f"rate limited: {burst} per {window:g}s per recipient")
        except Exception as exc:
            metrics.ERRORS_SWALLOWED.labels("notifications_deliver").inc()
            log.warning("delivery %s not recorded; lease will expire: %r", job.delivery.id, exc,
                        extra={"delivery_id": job.delivery.id, "error": repr(exc)[:300]})
            return
        log.info("delivery suppressed by rate limit",
                 extra={"delivery_id": job.delivery.id, "channel": job.delivery.channel})

    def _urgent(self, job: Job) -> bool | None:
        """Whether the job's notice skips the rate limit; None when the stored notice does not read.
        Parsed through the memo, so ``deliver`` does not parse it again."""
        try:
            return self._memo.notice(job.notice).urgent
        except Exception:
            return None

    async def _guarded(self, job: Job) -> None:
        async with self._limit:
            try:
                await self.deliver(job)
            except Exception as exc:
                # The lease expires and another pass retries it; the error must not stop the batch.
                metrics.ERRORS_SWALLOWED.labels("notifications_deliver").inc()
                log.warning("delivery %s not recorded; lease will expire: %r", job.delivery.id, exc,
                            extra={"delivery_id": job.delivery.id, "error": repr(exc)[:300]})

    async def deliver(self, job: Job) -> None:
        d = job.delivery
        notice = self._memo.notice(job.notice)
        if not job.rate_checked and not notice.urgent and not await self._admit(job):
            return
        try:
            secret = self._box.open(job.secret_sealed) if job.secret_sealed else None
        except InvalidToken:
            await self._record(job, status=DEAD_LETTERED, error="stored secret cannot be decrypted")
            return
        extra = self._links.context(notice, delivery_id=d.id, channel=d.channel, owner_role=job.owner_role)
        rendered = self._memo.render(job.notice, language=d.language, extra=extra)
        outgoing = Outgoing(delivery_id=d.id, event_id=d.event_id, event_type=d.event_type,
                            occurred_at=notice.occurred_at.isoformat(), language=d.language,
                            message=rendered, data=notice.event_data())
        channel = self._channels[d.channel]
        attempts = d.attempts + 1
        try:
            parts = await channel.send(address=job.address, outgoing=outgoing, secret=secret)
        except PermanentFailure as exc:
            await self._record(job, status=DEAD_LETTERED, attempts=attempts, error=str(exc))
        except (TemporaryFailure, OSError, TimeoutError) as exc:
            if attempts >= d.max_attempts:
                await self._record(job, status=DEAD_LETTERED, attempts=attempts, error=str(exc))
            else:
                delay = backoff_seconds(attempts, base=self._s.notify_retry_base_seconds,
                                        cap=self._s.notify_retry_max_seconds)
                await self._record(job, status=FAILED, attempts=attempts, error=str(exc),
                                   next_at=datetime.now(UTC) + timedelta(seconds=delay))
        else:
            await self._record(job, status=SENT, attempts=attempts, parts=parts, sent=True)

    async def _admit(self, job: Job) -> bool:
        """Spend a token of the recipient's bucket; without one the delivery is SUPPRESSED."""
        d = job.delivery
        burst, window = self._s.rate_limit(d.channel)
        # One statement (its own transaction): the token and the delivery's rate-checked mark.
        if await store.take_token(self._pool, recipient=f"{d.channel}:{job.address}", burst=burst,
                                  window_s=window, delivery_id=d.id):
            return True
        await self._record(job, status=SUPPRESSED, error=f"rate limited: {burst} per {window:g}s per recipient")
        log.info("delivery suppressed by rate limit", extra={"delivery_id": d.id, "channel": d.channel})
        return False

    async def _record(self, job: Job, *, status: str, attempts: int | None = None, error: str = "",
                      next_at: datetime | None = None, parts: int | None = None, sent: bool = False) -> None:
        d = job.delivery
        now = datetime.now(UTC)
        outcome = replace(
            d, status=status, attempts=d.attempts if attempts is None else attempts, last_error=error[:2000],
            next_attempt_at=next_at or d.next_attempt_at, sent_at=now if sent else d.sent_at,
            parts=d.parts if parts is None else parts, updated_at=now,
        )
        try:
            # With the outcomes of the other deliveries in flight: one statement (one commit) for all.
            await self._outcomes.write([(outcome, d.status)])
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            # A group wrote nothing when it failed: this outcome alone, so another's failure is not its own.
            await self._write_outcomes([(outcome, d.status)])
        if status == DEAD_LETTERED:
            log.warning("delivery %s dead-lettered: %s", d.id, error[:200],
                        extra={"delivery_id": d.id, "error": error[:300]})

    async def _write_outcomes(self, outcomes: Sequence[tuple[Delivery, str]]) -> None:
        """Each delivery as it now is, with its DeliveryEvent (``previous``: the status it leaves)."""
        records = [r for delivery, previous in outcomes for r in events.records(delivery, previous=previous)]
        async with self._pool.acquire() as conn:
            await store.record_outcomes(conn, [delivery for delivery, _ in outcomes], records=records,
                                        schema=events.SCHEMA)
