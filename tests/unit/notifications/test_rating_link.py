"""The rating link of a resolution message: who gets one, and that an SMS carries it whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import events_pb2 as ev
from cityops_notifications.notices import translate
from cityops_notifications.notices.models import Notice
from cityops_notifications.ratinglink import RatingLinks
from cityops_notifications.rendering import Renderer
from cityops_notifications.sms import is_gsm7, units
from cityops_platform import ratinglinks

AT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
INCIDENT = "0b9b6c2e-1f0a-4d3e-9c55-2a1b3c4d5e6f"
SETTINGS = ratinglinks.RatingLinkSettings(base_url="https://ioc.example.vn/", secret=None)
LINKS = RatingLinks(jwt_secret="unit-test-secret", settings=SETTINGS)


def transitioned(to_status: int) -> Notice:
    event = ev.IncidentEvent(event_id="e1", incident_id=INCIDENT, incident_number="BD-20261126-000042",
                             incident=ev.Incident(id=INCIDENT, number="BD-20261126-000042",
                                                  category=ev.CATEGORY_FIELD_REPORT,
                                                  location=common_pb2.GeoPoint(lat=10.9, lon=106.7,
                                                                               address="Đường Yersin")))
    event.occurred_at.FromDatetime(AT)
    event.transitioned.from_status = ev.STATUS_ON_SCENE
    event.transitioned.to_status = to_status  # type: ignore[assignment]
    notice = translate.from_incident_event(event, "t")
    assert notice is not None
    return notice


def test_a_citizens_resolution_sms_gets_a_link_that_verifies() -> None:
    delivery = str(uuid.uuid4())
    ctx = LINKS.context(transitioned(ev.STATUS_RESOLVED), delivery_id=delivery, channel="SMS", owner_role="citizen")
    url = ctx["rating_url"]
    assert url.startswith("https://ioc.example.vn/ratings/")
    link = ratinglinks.verify(ratinglinks.link_key("unit-test-secret"), url.rsplit("/", 1)[1], now=AT)
    assert (link.incident_id, link.nonce) == (INCIDENT, delivery)
    # The same delivery retried carries the same link.
    assert LINKS.context(transitioned(ev.STATUS_RESOLVED), delivery_id=delivery, channel="SMS",
                         owner_role="citizen") == ctx


def test_staff_webhooks_and_other_transitions_get_no_link() -> None:
    resolved = transitioned(ev.STATUS_RESOLVED)
    d = str(uuid.uuid4())
    assert LINKS.context(resolved, delivery_id=d, channel="EMAIL", owner_role="supervisor") == {}
    assert LINKS.context(resolved, delivery_id=d, channel="WEBHOOK", owner_role="citizen") == {}
    assert LINKS.context(transitioned(ev.STATUS_DISPATCHED), delivery_id=d, channel="SMS", owner_role="citizen") == {}


def test_the_sms_carries_the_link_as_a_whole_message_of_its_own() -> None:
    notice = transitioned(ev.STATUS_RESOLVED)
    extra = LINKS.context(notice, delivery_id=str(uuid.uuid4()), channel="SMS", owner_role="citizen")
    for lang in ("vi", "en"):
        rendered = Renderer().render(notice, language=lang, extra=extra)
        assert rendered.sms_parts[-1] == extra["rating_url"]
        assert all(extra["rating_url"] not in p for p in rendered.sms_parts[:-1])
        assert extra["rating_url"] in rendered.body
        assert all(units(p, gsm7=is_gsm7(p)) <= (160 if is_gsm7(p) else 70) for p in rendered.sms_parts)
    vi = Renderer().render(notice, language="vi", extra=extra)
    assert "đánh giá mức độ hài lòng" in " ".join(vi.sms_parts)
    plain = Renderer().render(notice, language="vi")
    assert "ratings/" not in plain.body and all("ratings/" not in p for p in plain.sms_parts)
