"""CAP 1.2 document building and CAP content validation (no database)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from cityops_notifications.alerts.cap_xml import CAP_NS, cap_time, reference, to_xml
from cityops_notifications.alerts.models import AlertIn, CapAlert, CapArea, CapInfo
from cityops_notifications.alerts.rules import notice_for, validate_alert
from cityops_notifications.geo import Circle, Point
from cityops_platform.errors import ValidationFailed

Q = f"{{{CAP_NS}}}"
SENT = datetime(2026, 11, 26, 9, 0, 5, 123456, tzinfo=UTC)


def info(language: str, **overrides: object) -> CapInfo:
    base: dict[str, object] = {"language": language, "categories": ("Met",), "event": "Ngập lụt", "urgency": "Expected",
                                   "severity": "Moderate", "certainty": "Likely", "headline": "Mưa lớn",
                                   "area": CapArea("TP Dĩ An", circle=Circle(Point(10.9, 106.77), 2500))}
    base.update(overrides)
    return CapInfo(**base)  # type: ignore[arg-type]


def alert(**overrides: object) -> CapAlert:
    base: dict[str, object] = {"id": "a1", "identifier": "BD-IOC-20261126-abc", "sender": "ioc@binhduong.gov.vn",
                                   "status": "Exercise", "msg_type": "Update", "scope": "Public", "state": "DRAFT",
                                   "author": "gs-an", "infos": (info("vi-VN"), info("en-US", event="Flooding")),
                                   "created_at": SENT, "updated_at": SENT,
                                   "references": ("ioc@binhduong.gov.vn,BD-IOC-1,2026-11-26T15:00:00+07:00",)}
    base.update(overrides)
    return CapAlert(**base)  # type: ignore[arg-type]


def test_cap_time_has_offset_and_no_fraction() -> None:
    assert cap_time(SENT) == "2026-11-26T16:00:05+07:00"
    assert reference("s@x", "ID-1", SENT) == "s@x,ID-1,2026-11-26T16:00:05+07:00"


def test_document_is_in_the_cap_namespace_with_circle_in_km() -> None:
    root = ET.fromstring(to_xml(alert(), sent=SENT).encode())
    assert root.tag == f"{Q}alert"
    assert root.findtext(f"{Q}status") == "Exercise" and root.findtext(f"{Q}msgType") == "Update"
    assert root.findtext(f"{Q}references") == "ioc@binhduong.gov.vn,BD-IOC-1,2026-11-26T15:00:00+07:00"
    assert root.findtext(f"{Q}info/{Q}area/{Q}circle") == "10.9,106.77 2.5"


def test_restricted_scope_writes_the_restriction() -> None:
    root = ET.fromstring(to_xml(alert(scope="Restricted", restriction="Chỉ lực lượng chức năng"), sent=SENT))
    names = [c.tag.removeprefix(Q) for c in root]
    assert names.index("restriction") == names.index("scope") + 1


def test_validation_orders_vietnamese_first_and_requires_an_area() -> None:
    clean = validate_alert(AlertIn(infos=(info("en-US"), info("vi-VN"))))
    assert [i.language for i in clean.infos] == ["vi-VN", "en-US"]
    with pytest.raises(ValidationFailed) as err:
        validate_alert(AlertIn(infos=(info("vi-VN", area=None),), scope="Private"))
    assert {v.field for v in err.value.violations} == {"alert.infos[0].area", "alert.addresses"}


def test_published_alert_notice_skips_rate_limits_and_carries_both_languages() -> None:
    notice = notice_for(alert(), sent=SENT)
    assert notice.urgent and notice.event_type == "cityops.notifications.v1.CapAlert"
    assert set(notice.context["infos"]) == {"vi", "en"} and notice.priority == 2
    assert notice.area is not None and notice.area.contains(Point(10.905, 106.77))
