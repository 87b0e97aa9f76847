"""Satisfaction ratings (mức độ hài lòng) after resolution, and their report per agency and category.

Who may rate: the incident's reporter (a citizen token whose subject filed one of its reports), or
anyone holding a signed one-time link from the resolution message (SMS/e-mail, see
``cityops_platform.ratinglinks``). Once per rater: per reporter subject, per link nonce. Only a
RESOLVED or CLOSED incident, within the rules' rating window after resolution. A rating does not
change the incident (no new version, so no ``expected_version``): it is stored, written on the
timeline and published as IncidentRated with the unchanged snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import lifecycle, report_store, store
from cityops_incidents.incidents.changes import PRODUCER
from cityops_incidents.incidents.convert import actor_pb, incident_pb, ts
from cityops_incidents.incidents.models import (
    Actor,
    Incident,
    Rating,
    RatingIn,
    SatisfactionRow,
    TimelineEntry,
)
from cityops_incidents.incidents.transitions import utcnow
from cityops_incidents.incidents.validation import check_length, check_uuid
from cityops_incidents.ratings import store as rating_store
from cityops_incidents.rules import Rules
from cityops_platform import ratinglinks
from cityops_platform.db import outbox
from cityops_platform.errors import (
    FieldViolation,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
    require,
)
from cityops_platform.kafka.topics import INCIDENT_EVENTS

DEFAULT_REPORT_PERIOD = timedelta(days=30)


@dataclass(frozen=True)
class RatingDeps:
    """What the rating functions need, built once by ``server.py`` (absent: ratings not configured)."""

    pool: asyncpg.Pool
    rules: Rules
    link_key: bytes


async def rate_incident(r: RatingIn, *, actor: Actor, roles: frozenset[str], pool: asyncpg.Pool, rules: Rules,
                        link_key: bytes, now: Callable[[], datetime] = utcnow) -> Rating:
    """Record a 1-5 rating. Idempotent per rater: a second rating by the same reporter or link is
    refused (FAILED_PRECONDITION) and changes nothing."""
    at = now()
    out: list[FieldViolation] = []
    if not r.link_token or r.incident_id:
        check_uuid(out, "id", r.incident_id)
    if not 1 <= r.rating <= 5:
        out.append(FieldViolation("rating", "phải từ 1 đến 5 (must be 1 to 5)"))
    check_length(out, "comment", r.comment, rules.limit("reason"))
    require(out)
    incident_id = r.incident_id
    if r.link_token:
        link = _verify(link_key, r.link_token, at)
        if incident_id and incident_id != link.incident_id:
            raise ValidationFailed([FieldViolation("id", "không khớp với liên kết (does not match the link)")])
        incident_id, rater, channel = link.incident_id, f"link:{link.nonce}", "link"
    else:
        if "citizen" not in roles:
            raise PermissionDenied("Chỉ người phản ánh hoặc người có liên kết đánh giá được đánh giá "
                                   "(only the reporter or a rating link may rate)")
        rater, channel = f"subject:{actor.subject}", "reporter"
    async with pool.acquire() as conn, conn.transaction():
        inc = await store.get(conn, incident_id)
        if inc is None:
            raise NotFound("incident", incident_id)
        if channel == "reporter" and not await report_store.is_reporter(conn, inc.id, actor.subject):
            raise PermissionDenied("Chỉ người phản ánh sự cố này được đánh giá (only its reporter may rate)")
        _check_rateable(rules, inc, at)
        rating = Rating(id=str(uuid.uuid4()), incident_id=inc.id, incident_number=inc.number, rating=r.rating,
                        comment=r.comment, agency=inc.agency, category=inc.category, channel=channel,
                        rated_at=at)
        entry, record = _event(rules, inc, rating, actor, at)
        if not await rating_store.insert(conn, rating=rating, rater=rater, entry=entry, record=record):
            raise PreconditionFailed("Sự cố này đã được đánh giá bằng liên kết/tài khoản này "
                                     "(already rated by this reporter or link)")
        return rating


async def satisfaction_report(
    *, pool: asyncpg.Pool, since: datetime | None, until: datetime | None, agencies: list[str],
    categories: list[str], now: Callable[[], datetime] = utcnow,
) -> list[SatisfactionRow]:
    """Ratings per agency and category in [since, until) (default: the last 30 days)."""
    until = until or now()
    since = since or until - DEFAULT_REPORT_PERIOD
    if since >= until:
        raise ValidationFailed([FieldViolation("since", "phải trước until (must precede until)")])
    async with pool.acquire() as conn:
        return await rating_store.report(conn, since=since, until=until, agencies=agencies,
                                         categories=categories)


def _verify(key: bytes, token: str, now: datetime) -> ratinglinks.RatingLink:
    try:
        return ratinglinks.verify(key, token, now=now)
    except ratinglinks.InvalidLink as exc:
        if exc.reason == "signature":
            raise PermissionDenied(str(exc)) from exc
        if exc.reason == "expired":
            raise PreconditionFailed(str(exc)) from exc
        raise ValidationFailed([FieldViolation("link_token", str(exc))]) from exc


def _check_rateable(rules: Rules, inc: Incident, now: datetime) -> None:
    if inc.status not in lifecycle.RATEABLE:
        raise PreconditionFailed(f"Chỉ đánh giá sự cố đã giải quyết; {inc.number} đang {inc.status} "
                                 f"(only RESOLVED or CLOSED incidents can be rated)")
    resolved = inc.resolved_at or inc.closed_at or inc.updated_at
    if now - resolved > rules.lifecycle.rating_window:
        raise PreconditionFailed("Đã quá thời hạn đánh giá (the rating window has passed)")


def _event(rules: Rules, inc: Incident, rating: Rating, actor: Actor,
           now: datetime) -> tuple[TimelineEntry, outbox.OutboxRecord]:
    event_id = str(uuid.uuid4())
    event = pb.IncidentEvent(
        event_id=event_id, occurred_at=ts(now), incident_id=inc.id, incident_number=inc.number,
        actor=actor_pb(actor), incident=incident_pb(inc, rules.eido),
        rated=pb.IncidentRated(rating_id=rating.id, rating=rating.rating, comment=rating.comment,
                               channel=rating.channel),
    )
    record = outbox.outbox_record(topic=INCIDENT_EVENTS.name, key=inc.id, message=event,
                                  event_type="IncidentRated", producer=PRODUCER, event_id=event_id)
    detail = f"Đánh giá {rating.rating}/5 qua {rating.channel}" + (f": {rating.comment}" if rating.comment else "")
    entry = TimelineEntry(now, actor, "IncidentRated", "", f"{rating.rating}/5", detail, inc.version, event_id)
    return entry, record
