"""SLA breach notices for the supervisor on duty, whether or not they subscribed.

An SLA breach is an ``IncidentEscalated`` whose reason is SLA_ACK, SLA_DISPATCH or SLA_RESOLVE.
For each one the worker looks up who is on duty for the incident's agency at the breach's time
(``service.on_duty``) and queues one delivery per contact of that supervisor, rendered with the
``supervisor_breach`` template in the contact's language first and the other language second.

Guarantees: deduplicated by the source event id (``processed_events`` under its own consumer
name, and the notice key ``supervisor-breach:<event id>`` with the unique (event, subscription)
of ``deliveries``), so a redelivered or replayed event never notifies twice; the notices skip the
per-recipient rate limit (``urgent``), because a suppressed breach notice would be a lost one.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import asyncpg

from cityops_notifications.deliveries import events
from cityops_notifications.deliveries import store as deliveries
from cityops_notifications.deliveries.models import Delivery
from cityops_notifications.notices.models import INCIDENT_ESCALATED, Notice
from cityops_notifications.roster import store
from cityops_notifications.roster.models import OnDuty, Roster
from cityops_notifications.roster.service import ANY_AGENCY, on_duty
from cityops_platform import metrics
from cityops_platform.db.idempotency import first_time

log = logging.getLogger("cityops.notifications.roster")
CONSUMER = "notifications-supervisor-breach"
SLA_REASONS = frozenset({"ESCALATION_REASON_SLA_ACK", "ESCALATION_REASON_SLA_DISPATCH",
                         "ESCALATION_REASON_SLA_RESOLVE"})
TEMPLATE = "supervisor_breach"
NOTICE_PREFIX = "supervisor-breach:"


def is_breach(notice: Notice) -> bool:
    return notice.event_type == INCIDENT_ESCALATED and notice.context.get("reason") in SLA_REASONS


def agency_of(notice: Notice) -> str:
    """The incident's agency code as the roster names it ("ADMIN_CENTER"), or "*" when unknown."""
    return next(iter(sorted(notice.agencies)), ANY_AGENCY)


def supervisor_notice(notice: Notice, duty: OnDuty) -> Notice:
    """The breach as the supervisor reads it: its own key, template and facts, never rate-limited."""
    return replace(
        notice, event_id=f"{NOTICE_PREFIX}{notice.event_id}", template=TEMPLATE, urgent=True, reporter_subject="",
        context={**notice.context, "bilingual": True, "supervisor_name": duty.supervisor.name,
                 "shift": duty.shift, "shift_day": duty.shift_day.isoformat(), "source_event_id": notice.event_id},
    )


async def notify_on_duty(conn: asyncpg.Connection, notice: Notice, *, roster: Roster,
                         max_attempts: int) -> list[Delivery]:
    """Queue the breach notice for the supervisor on duty; call inside a transaction.
    Idempotent on the notice's event id; a notice that is not an SLA breach creates nothing."""
    if not is_breach(notice) or not await first_time(conn, CONSUMER, notice.event_id):
        return []
    agency = agency_of(notice)
    duty = on_duty(roster, agency=agency, at=notice.occurred_at)
    if duty is None:
        metrics.ERRORS_SWALLOWED.labels("notifications_roster_nobody_on_duty").inc()
        log.warning("SLA breach with nobody on duty in the roster", extra={
            "event_id": notice.event_id, "agency": agency, "incident_id": notice.incident_id})
        return []
    derived = supervisor_notice(notice, duty)
    await deliveries.save_notice(conn, derived)
    created = []
    for contact in duty.supervisor.contacts:
        sub = await store.roster_subscription(conn, duty.supervisor, contact)
        delivery = await deliveries.create(conn, sub=sub, notice=derived, max_attempts=max_attempts)
        if delivery is not None:
            await events.publish(conn, delivery, previous=None)
            created.append(delivery)
    log.info("SLA breach sent to the supervisor on duty", extra={
        "event_id": notice.event_id, "supervisor": duty.supervisor.id, "shift": duty.shift, "agency": agency})
    return created
