"""Every template renders in Vietnamese (default, with diacritics) and English, times in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import events_pb2 as dispatch
from cityops.incidents.v1 import events_pb2 as ev
from cityops.sensors.v1 import events_pb2 as sensors
from cityops_notifications.notices import translate
from cityops_notifications.notices.models import Notice
from cityops_notifications.rendering import Renderer
from cityops_notifications.sms import units
from cityops_platform.city import current_city

AT = datetime(2026, 11, 26, 17, 5, tzinfo=UTC)  # 00:05 on 27/11 in Bình Dương


def incident(body: str, **fields: object) -> ev.IncidentEvent:
    event = ev.IncidentEvent(event_id=f"e-{body}", incident_id="i1", incident_number="BD-20261127-000007",
                             incident=ev.Incident(id="i1", number="BD-20261127-000007", category=ev.CATEGORY_FIRE,
                                                  priority=ev.PRIORITY_P1, status=ev.STATUS_DISPATCHED,
                                                  description="Cháy xưởng gỗ", report_count=3,
                                                  location=common_pb2.GeoPoint(lat=10.9, lon=106.7,
                                                                               address="KCN Sóng Thần, Dĩ An")))
    event.occurred_at.FromDatetime(AT)
    getattr(event, body).SetInParent()
    for name, value in fields.items():
        setattr(getattr(event, body), name, value)
    return event


def notices() -> list[Notice]:
    found = [translate.from_incident_event(incident(b), "t") for b in
             ("reported", "merged", "note_added", "updated", "sensor_alert_cleared", "sla_warning")]
    found.append(translate.from_incident_event(incident("transitioned", from_status=ev.STATUS_NEW,
                                                        to_status=ev.STATUS_RESOLVED, reason="Đã dập lửa"), "t"))
    found.append(translate.from_incident_event(incident("escalated", reason=ev.ESCALATION_REASON_SLA_DISPATCH,
                                                        old_priority=2, new_priority=1, escalation_level=2), "t"))
    unit = dispatch.UnitAssigned(call_sign="PCCC-DA-02", agency=common_pb2.AGENCY_FIRE_RESCUE_114, eta_seconds=420)
    assigned = dispatch.DispatchEvent(event_id="d1", incident_id="i1", incident_number="BD-20261127-000007",
                                      unit_assigned=unit)
    found.append(translate.from_dispatch_event(assigned, "t"))
    alert = sensors.SensorAlert(event_id="s1", alert_id="a1", sensor_id="wl-tdm-01",
                                kind=sensors.SENSOR_KIND_WATER_LEVEL,
                                state=sensors.ALERT_STATE_RAISED, level=sensors.ALERT_LEVEL_CRITICAL, value=82.5,
                                threshold=60, unit="cm", district="Thủ Dầu Một", sensor_name="Cầu Ông Cộ")
    alert.observed_at.FromDatetime(AT)
    found.append(translate.from_sensor_alert(alert, "t"))
    return [n for n in found if n is not None]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_notice_kind_renders_subject_body_and_sms(language: str) -> None:
    renderer = Renderer()
    for notice in notices():
        rendered = renderer.render(notice, language=language)
        assert rendered.subject and rendered.body and rendered.sms_parts, notice.template
        assert all(units(p, gsm7=False) <= 70 or len(p) <= 160 for p in rendered.sms_parts)


def test_vietnamese_is_the_default_with_diacritics_and_local_time() -> None:
    reported = notices()[0]
    rendered = Renderer().render(reported, language="")
    assert rendered.subject == "[CityOps] P1 Cháy nổ – sự cố mới BD-20261127-000007"
    assert "00:05 ngày 27/11/2026" in rendered.body
    assert "KCN Sóng Thần, Dĩ An" in rendered.body and "Đã điều lực lượng" in rendered.body


def test_english_labels_and_numbers_follow_the_locale() -> None:
    sensor = notices()[-1]
    assert "82.5 cm" in Renderer().render(sensor, language="en").body
    assert "82,5 cm" in Renderer().render(sensor, language="vi").body
    assert Renderer().render(sensor, language="vi").subject == "[CityOps] Nguy hiểm: Mực nước tại Cầu Ông Cộ"


def test_dispatch_template_names_the_unit_and_eta() -> None:
    assigned = next(n for n in notices() if n.template == "dispatch_event")
    text = Renderer().render(assigned, language="vi").body
    assert "PCCC-DA-02" in text and "Cảnh sát PCCC và CNCH 114" in text and "7 phút" in text


def test_every_template_exists_in_both_languages() -> None:
    root = current_city().file("notifications/templates")
    vi = {p.name for p in root.joinpath("vi").iterdir()}
    en = {p.name for p in root.joinpath("en").iterdir()}
    assert vi == en and "generic.j2" in vi


def test_unknown_template_key_falls_back_to_generic() -> None:
    notice = Notice(event_id="x", event_type="cityops.example.v1.Thing", source_topic="t", occurred_at=AT,
                    template="no_such_template")
    assert Renderer().render(notice, language="vi").subject == "[CityOps] Thông báo: Thing"


def test_a_stored_notice_is_parsed_and_rendered_once_per_language_for_all_its_deliveries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cityops_notifications.rendering import RenderMemo

    renderer = Renderer()
    calls: list[tuple[str, str]] = []
    real = renderer.render

    def counted(notice: Notice, *, language: str, extra: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
        calls.append((notice.event_id, language))
        return real(notice, language=language, extra=extra)

    monkeypatch.setattr(renderer, "render", counted)
    memo = RenderMemo(renderer, most=2)
    first, second = notices()[0], notices()[1]
    stored = [first.to_json(), first.to_json(), second.to_json()]  # as claimed: one dict per delivery row
    texts = [memo.render(s, language="vi", extra={}) for s in stored]
    assert texts[0] is texts[1] and texts[0] == real(first, language="vi")
    assert memo.render(stored[0], language="en", extra={}) == real(first, language="en")
    assert calls == [(first.event_id, "vi"), (second.event_id, "vi"), (first.event_id, "en")]
    # Per-delivery facts are rendered for that delivery alone.
    linked = memo.render(stored[0], language="vi", extra={"rating_url": "https://x.invalid/r/1"})
    assert linked == real(first, language="vi", extra={"rating_url": "https://x.invalid/r/1"})
    assert len(calls) == 4
    # Bounded: with most=2 the oldest rendering is dropped and done again when asked.
    memo.render(stored[2], language="en", extra={})
    memo.render(stored[0], language="vi", extra={})
    assert calls[-1] == (first.event_id, "vi")
