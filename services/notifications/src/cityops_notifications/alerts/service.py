"""The CAP workflow: draft → approve by a different supervisor → published (and fanned out).

Guarantees: no alert is published without two people (approver ≠ author; editing a draft makes
the editor its author); an Update or Cancel references every earlier message of its chain as
"sender,identifier,sent"; publishing, superseding the referenced alert and creating the deliveries
commit in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg

from cityops_notifications.alerts import rules, store
from cityops_notifications.alerts.cap_xml import reference, to_xml
from cityops_notifications.alerts.conformance import conformance_errors
from cityops_notifications.alerts.models import CANCELLED, DRAFT, PUBLISHED, SUPERSEDED, AlertIn, CapAlert, CapInfo
from cityops_notifications.deliveries.service import fan_out
from cityops_notifications.subscriptions.service import page_bounds
from cityops_platform import metrics
from cityops_platform.auth import Principal
from cityops_platform.city import current_city
from cityops_platform.errors import (
    FieldViolation,
    IllegalTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
    require,
)

TZ = ZoneInfo(current_city().timezone)  # the identifier's date is the city's
IDENTIFIER_PREFIX = current_city().cap.identifier_prefix  # city.yaml `cap.identifier_prefix`
log = logging.getLogger("cityops.notifications.alerts")


def _check_id(alert_id: str) -> None:
    try:
        uuid.UUID(alert_id)
    except ValueError:
        raise ValidationFailed([FieldViolation("alert_id", "phải là UUID (must be a UUID)")]) from None


def _identifier(now: datetime) -> str:
    return f"{IDENTIFIER_PREFIX}-{now.astimezone(TZ):%Y%m%d}-{uuid.uuid4().hex[:12]}"


async def _load(conn: asyncpg.Connection | asyncpg.Pool, alert_id: str, *, lock: bool = False) -> CapAlert:
    _check_id(alert_id)
    alert = await store.get(conn, alert_id, lock=lock)
    if alert is None:
        raise NotFound("alert", alert_id)
    return alert


async def draft_alert(alert_in: AlertIn, *, actor: Principal, sender: str, pool: asyncpg.Pool) -> CapAlert:
    """A new DRAFT (msgType Alert) waiting for a second supervisor."""
    now = datetime.now(UTC)
    clean = rules.validate_alert(alert_in, now=now)
    alert = CapAlert(
        id=str(uuid.uuid4()), identifier=_identifier(now), sender=sender, status=clean.status, msg_type="Alert",
        scope=clean.scope, restriction=clean.restriction, addresses=clean.addresses, state=DRAFT,
        author=actor.subject, infos=clean.infos, note=clean.note, incident_id=clean.incident_id,
        created_at=now, updated_at=now,
    )
    return await store.insert(pool, alert)


async def approve_alert(alert_id: str, *, actor: Principal, pool: asyncpg.Pool, max_attempts: int) -> CapAlert:
    """Publish a DRAFT. The author approving their own draft is FAILED_PRECONDITION."""
    async with pool.acquire() as conn, conn.transaction():
        alert = await _load(conn, alert_id, lock=True)
        if alert.state != DRAFT:
            raise IllegalTransition("alert", alert.state, PUBLISHED)
        if alert.author == actor.subject:
            raise PreconditionFailed(
                "Người soạn không được tự phê duyệt; cần một giám sát viên khác "
                "(two-person rule: the author cannot approve their own alert)"
            )
        if alert.supersedes_id:
            previous = await _load(conn, alert.supersedes_id, lock=True)
            if previous.state != PUBLISHED:
                raise IllegalTransition("alert", previous.state, SUPERSEDED)
            await store.set_state(conn, previous.id, CANCELLED if alert.msg_type == "Cancel" else SUPERSEDED)
        sent = datetime.now(UTC).replace(microsecond=0)
        expired = [i.language for i in alert.infos if i.expires is not None and i.expires <= sent]
        if expired:
            raise PreconditionFailed(
                f"Cảnh báo đã hết hạn (expires) trước thời điểm phát, khối {', '.join(expired)}; hãy cập nhật "
                f"expires rồi phê duyệt lại (the alert expired before it could be sent: info {', '.join(expired)}; "
                "update expires and approve again)")
        xml = to_xml(alert, sent=sent)
        problems = conformance_errors(xml)
        if problems:  # drafts are validated, so this is a defect of ours: never publish it
            metrics.ERRORS_SWALLOWED.labels("cap_nonconformant").inc()
            log.error("CAP message fails CAP 1.2", extra={"alert_id": alert.id, "problems": problems[:10]})
            raise PreconditionFailed(
                "Bản tin CAP không hợp lệ theo CAP 1.2, không phát (the CAP message fails CAP 1.2 and was not "
                f"published): {'; '.join(problems[:3])}")
        published = await store.publish(conn, alert.id, approver=actor.subject, sent_at=sent, xml=xml)
        await fan_out(conn, rules.notice_for(published, sent=sent), max_attempts=max_attempts)
    return published


async def _follow_up(conn: asyncpg.Connection, previous: CapAlert, *, msg_type: str, infos: tuple[CapInfo, ...],
                     note: str, actor: Principal) -> CapAlert:
    if previous.sent_at is None:  # published alerts always have one; guards a corrupt row
        raise PreconditionFailed("alert has no sent time")
    now = datetime.now(UTC)
    follow = CapAlert(
        id=str(uuid.uuid4()), identifier=_identifier(now), sender=previous.sender, status=previous.status,
        msg_type=msg_type, scope=previous.scope, restriction=previous.restriction, addresses=previous.addresses,
        references=(*previous.references, reference(previous.sender, previous.identifier, previous.sent_at)),
        state=DRAFT, author=actor.subject, infos=infos, note=note, incident_id=previous.incident_id,
        supersedes_id=previous.id, created_at=now, updated_at=now,
    )
    return await store.insert(conn, follow)


async def update_alert(alert_id: str, infos: tuple[CapInfo, ...], note: str, *, actor: Principal,
                       pool: asyncpg.Pool) -> CapAlert:
    """DRAFT: replace its infos (the editor becomes the author). PUBLISHED: draft an Update referencing it."""
    v: list[FieldViolation] = []
    clean = rules.validate_infos(infos, "infos", v, now=datetime.now(UTC))
    rules.check_note(note, "note", v)
    require(v)
    async with pool.acquire() as conn, conn.transaction():
        alert = await _load(conn, alert_id, lock=True)
        if alert.state == DRAFT:
            return await store.replace_infos(conn, alert.id, infos=[i.to_json() for i in clean],
                                             note=note or alert.note, author=actor.subject)
        if alert.state != PUBLISHED:
            raise IllegalTransition("alert", alert.state, "UPDATE")
        return await _follow_up(conn, alert, msg_type="Update", infos=clean, note=note, actor=actor)


async def cancel_alert(alert_id: str, reason: str, *, actor: Principal, pool: asyncpg.Pool) -> CapAlert:
    """DRAFT: discard it. PUBLISHED: draft a Cancel referencing it (it needs approval too)."""
    v: list[FieldViolation] = []
    rules.check_note(reason, "reason", v)
    require(v)
    async with pool.acquire() as conn, conn.transaction():
        alert = await _load(conn, alert_id, lock=True)
        if alert.state == DRAFT:
            await store.set_state(conn, alert.id, CANCELLED)
            return replace(alert, state=CANCELLED, note=reason or alert.note)
        if alert.state != PUBLISHED:
            raise IllegalTransition("alert", alert.state, CANCELLED)
        return await _follow_up(conn, alert, msg_type="Cancel", infos=alert.infos, note=reason, actor=actor)


async def get_alert(alert_id: str, *, pool: asyncpg.Pool) -> CapAlert:
    """One alert; ``xml`` is set once it was published."""
    return await _load(pool, alert_id)


async def list_alerts(*, states: list[str], page_size: int, page_token: str,
                      pool: asyncpg.Pool) -> tuple[list[CapAlert], str]:
    limit, offset = page_bounds(page_size, page_token, 50)
    items = await store.list_alerts(pool, states=states, limit=limit + 1, offset=offset)
    return items[:limit], (str(offset + limit) if len(items) > limit else "")
