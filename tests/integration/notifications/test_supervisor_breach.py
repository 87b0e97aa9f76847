"""Every SLA breach reaches the supervisor on duty (conftest.ROSTER), subscribed or not: through the
real worker, over real SMTP (aiosmtpd) and the HTTP SMS gateway; Vietnamese first, English second;
once per event, and only for SLA breaches."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import eventually
from cityops_platform.kafka.topics import INCIDENT_EVENTS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]
FIRST = 60.0  # this module may run first: the worker joins its consumer group
DAY = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # Thursday 09:30 in Asia/Ho_Chi_Minh: the day shift
NIGHT_AFTER_MIDNIGHT = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # Friday 05:00 local: Thursday's night shift


def breach_event(*, incident_id: str, agency: int, at: datetime = DAY,
                 reason: int = ev.ESCALATION_REASON_SLA_DISPATCH, event_id: str | None = None) -> ev.IncidentEvent:
    incident = ev.Incident(
        id=incident_id, number=f"BD-20261126-{incident_id[:6]}", category=ev.CATEGORY_FIRE,
        priority=ev.PRIORITY_P2, status=ev.STATUS_ACKNOWLEDGED, description="Cháy kho chứa vải",
        report_count=1, agency=agency, district="Thuận An",
        location=common_pb2.GeoPoint(lat=10.92, lon=106.71, address="KCN Việt Hương, Thuận An"),
    )
    event = ev.IncidentEvent(event_id=event_id or str(uuid.uuid4()), incident_id=incident_id,
                             incident_number=incident.number, incident=incident)
    event.occurred_at.FromDatetime(at)
    event.escalated.reason = reason  # type: ignore[assignment]
    event.escalated.old_priority = ev.PRIORITY_P3
    event.escalated.new_priority = ev.PRIORITY_P2
    event.escalated.escalation_level = 1
    event.escalated.sla_stage = ev.SLA_STAGE_DISPATCH
    event.escalated.breached_due_at.FromDatetime(datetime(2026, 11, 26, 2, 20, tzinfo=UTC))
    return event


def mails(stack: Any, address: str, event: ev.IncidentEvent) -> list[EmailMessage]:
    wanted = f"supervisor-breach:{event.event_id}"
    return [m for m in stack.smtp.to(address) if m["X-CityOps-Event-Id"] == wanted]


def sms_messages(stack: Any, phone: str, number: str) -> list[str]:
    """Texts sent to ``phone`` about incident ``number``, one per delivery (its parts joined in order)."""
    parts: dict[str, list[str]] = {}
    for _, body in stack.sms.requests.get("/v1/sms", []):
        request = json.loads(body)
        if request["to"] == phone:
            parts.setdefault(request["reference"], []).append(request["text"])
    return [text for text in ("".join(p) for p in parts.values()) if number in text]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None and part.get_content_charset() == "utf-8"
    return str(part.get_content())


async def test_sla_breach_reaches_the_supervisor_on_duty_without_any_subscription(stack: Any) -> None:
    incident_id = str(uuid.uuid4())
    event = breach_event(incident_id=incident_id, agency=common_pb2.AGENCY_FIRE_RESCUE_114)
    await stack.produce(INCIDENT_EVENTS.name, event, key=incident_id)

    [message] = await eventually(lambda: mails(stack, "ioc-ngay@roster.test.vn", event), timeout=FIRST)
    number = f"BD-20261126-{incident_id[:6]}"
    assert message["Subject"] == (f"[CityOps] QUÁ HẠN SLA {number}: quá hạn điều lực lượng / "
                                  f"[CityOps] SLA BREACH {number}: not dispatched in time")
    text = text_of(message)
    assert text.index("Kính gửi Trực ban IOC ca ngày (trực ca ngày)") < text.index("To Trực ban IOC ca ngày")
    assert "Sự cố " + number + " (Cháy nổ) đã quá hạn điều lực lượng" in text
    assert "Hạn đã lỡ: 09:20 ngày 26/11/2026" in text, "the missed deadline in Asia/Ho_Chi_Minh time"
    assert "Đơn vị xử lý: Cảnh sát PCCC và CNCH 114" in text
    assert "missed its dispatch deadline" in text

    async def sms() -> list[str] | None:
        return sms_messages(stack, "+84911000001", number) or None

    [text_message] = await eventually(sms, timeout=30)
    assert text_message.index("QUÁ HẠN") < text_message.index("SLA BREACH")

    found = await stack.stub.ListDeliveries(pb.ListDeliveriesRequest(event_id=f"supervisor-breach:{event.event_id}"),
                                            metadata=stack.auth("supervisor"))
    assert sorted(d.channel for d in found.deliveries) == [pb.CHANNEL_EMAIL, pb.CHANNEL_SMS]
    # The supervisor never subscribed: the roster contact is not a subscription anyone can list.
    listed = await stack.stub.ListSubscriptions(pb.ListSubscriptionsRequest(owner="*", page_size=500),
                                                metadata=stack.auth("admin"))
    assert all("roster.test.vn" not in s.address for s in listed.subscriptions)


async def test_roster_picks_the_agency_entry_the_date_entry_and_the_night_shift(stack: Any) -> None:
    admin_day = breach_event(incident_id=str(uuid.uuid4()), agency=common_pb2.AGENCY_ADMIN_CENTER)
    admin_night = breach_event(incident_id=str(uuid.uuid4()), agency=common_pb2.AGENCY_ADMIN_CENTER,
                               at=NIGHT_AFTER_MIDNIGHT)
    for event in (admin_day, admin_night):
        await stack.produce(INCIDENT_EVENTS.name, event, key=event.incident_id)

    # Thursday 26/11/2026 has a date entry for ADMIN_CENTER: it wins over the weekday entry.
    await eventually(lambda: mails(stack, "hcc-thay@roster.test.vn", admin_day), timeout=FIRST)
    # Friday 05:00 belongs to Thursday's night shift; ADMIN_CENTER has no night entry: the IOC's ("*"),
    # whose contact reads English first.
    [night] = await eventually(lambda: mails(stack, "ioc-dem@roster.test.vn", admin_night), timeout=30)
    assert night["Subject"].startswith("[CityOps] SLA BREACH")
    text = text_of(night)
    assert text.index("To IOC night duty (on duty, ca đêm)") < text.index("Kính gửi IOC night duty")
    assert mails(stack, "hcc@roster.test.vn", admin_day) == []
    assert mails(stack, "ioc-ngay@roster.test.vn", admin_day) == []


async def test_breach_notice_is_sent_once_per_event_and_only_for_sla_breaches(stack: Any) -> None:
    incident_id = str(uuid.uuid4())
    agency = common_pb2.AGENCY_POLICE_113
    repeated = breach_event(incident_id=incident_id, agency=agency)
    not_a_breach = breach_event(incident_id=incident_id, agency=agency, reason=ev.ESCALATION_REASON_REPORT_COUNT)
    marker = breach_event(incident_id=incident_id, agency=agency, reason=ev.ESCALATION_REASON_SLA_RESOLVE)
    for _ in range(3):  # a producer retry or a replayed partition
        await stack.produce(INCIDENT_EVENTS.name, repeated, key=incident_id)
    await stack.produce(INCIDENT_EVENTS.name, not_a_breach, key=incident_id)
    await stack.produce(INCIDENT_EVENTS.name, marker, key=incident_id)

    address = "ioc-ngay@roster.test.vn"
    # Same key, same partition, in order: when the marker is sent, everything before it was consumed.
    await eventually(lambda: mails(stack, address, marker), timeout=FIRST)
    assert len(mails(stack, address, repeated)) == 1
    assert mails(stack, address, not_a_breach) == []
    found = await stack.stub.ListDeliveries(
        pb.ListDeliveriesRequest(event_id=f"supervisor-breach:{repeated.event_id}"), metadata=stack.auth("supervisor"))
    assert len(found.deliveries) == 2  # one per contact (e-mail and SMS), however often the event came
    number = f"BD-20261126-{incident_id[:6]}"

    async def both_texts() -> list[str] | None:  # the marker's SMS may follow its e-mail
        found = sms_messages(stack, "+84911000001", number)
        return found if len(found) >= 2 else None

    assert len(await eventually(both_texts, timeout=30)) == 2  # the repeated event once, and the marker
