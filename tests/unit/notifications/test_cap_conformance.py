"""CAP 1.2 conformance without a database: the OASIS XSD (read from the standards folder) and the
data-dictionary rules it cannot express, on our own documents, the spec's example and broken variants;
and the draft-time refusal of control characters naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops_notifications.alerts.cap_xml import to_xml
from cityops_notifications.alerts.conformance import conformance_errors, rule_errors, schema_errors
from cityops_notifications.alerts.models import AlertIn, CapAlert, CapArea, CapInfo
from cityops_notifications.alerts.rules import validate_alert
from cityops_notifications.geo import Point
from cityops_platform.errors import ValidationFailed
from cityops_platform.standards import standards_dir

SENT = datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)
RING = (Point(10.975, 106.645), Point(10.975, 106.660), Point(10.990, 106.660), Point(10.990, 106.645))


def info(**overrides: object) -> CapInfo:
    base: dict[str, object] = {
        "language": "vi-VN", "categories": ("Met",), "event": "Ngập lụt", "urgency": "Immediate",
        "severity": "Severe", "certainty": "Observed", "headline": "Ngập sâu", "description": "Mực nước 80 cm.\nTránh.",
        "area": CapArea("Phường Phú Cường", polygon=RING), "expires": SENT + timedelta(hours=6),
    }
    base.update(overrides)
    return CapInfo(**base)  # type: ignore[arg-type]


def document(**overrides: object) -> str:
    base: dict[str, object] = {
        "id": "a1", "identifier": "BD-IOC-20261126-abc", "sender": "ioc@binhduong.gov.vn", "status": "Actual",
        "msg_type": "Update", "scope": "Public", "state": "DRAFT", "author": "gs-an",
        "infos": (info(), info(language="en-US", event="Flooding")), "created_at": SENT, "updated_at": SENT,
        "references": ("ioc@binhduong.gov.vn,BD-IOC-1,2026-11-26T15:00:00+07:00",),
    }
    base.update(overrides)
    return to_xml(CapAlert(**base), sent=SENT)  # type: ignore[arg-type]


def test_our_documents_pass_the_xsd_and_the_data_dictionary_rules() -> None:
    assert conformance_errors(document()) == []
    assert conformance_errors(document(msg_type="Alert", references=())) == []


def test_the_specs_own_example_passes_the_xsd() -> None:
    example = (standards_dir() / "cap" / "cap_amber_alert_example.xml").read_text(encoding="utf-8")
    assert schema_errors(example) == []
    assert rule_errors(example) == []


def test_an_already_closed_ring_is_not_closed_twice() -> None:
    closed = (*RING, RING[0])
    xml = document(infos=(info(area=CapArea("P", polygon=closed)),))
    assert conformance_errors(xml) == [] and xml.count("10.975,106.645") == 2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<sent>2026-11-26T16:00:05+07:00</sent>", "<sent>2026-11-26T09:00:05Z</sent>", "sent:"),
        ("<sent>2026-11-26T16:00:05+07:00</sent>", "<sent>2026-11-26T16:00:05.5+07:00</sent>", "sent:"),
        ("BD-IOC-1,2026-11-26T15:00:00+07:00", "BD-IOC-1", "references:"),
        ("BD-IOC-1,2026-11-26T15:00:00+07:00", "BD-IOC-1,yesterday", "references:"),
        ("<expires>2026-11-26T22:00:05+07:00</expires>", "<expires>2026-11-26T15:00:05+07:00</expires>",
         "expires: not after sent"),
        (" 10.975,106.645</polygon>", "</polygon>", "polygon"),
        ("Mực nước 80 cm.", "Mực nước\x0280 cm.", "XML"),
    ],
)
def test_each_broken_rule_is_reported(old: str, new: str, expected: str) -> None:
    xml = document()
    assert old in xml
    errors = rule_errors(xml.replace(old, new, 1))
    assert any(expected in e for e in errors), errors


def test_xsd_refuses_a_message_without_an_identifier() -> None:
    xml = document()
    broken = xml.replace("<identifier>BD-IOC-20261126-abc</identifier>", "")
    assert schema_errors(xml) == [] and schema_errors(broken)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "Mực nước\x0b80 cm"}, "alert.infos[0].description"),
        ({"headline": "Ngập\nsâu"}, "alert.infos[0].headline"),
        ({"event": "Ngập\x00"}, "alert.infos[0].event"),
        ({"area": CapArea("Phường\x1bPhú Cường", polygon=RING)}, "alert.infos[0].area.area_desc"),
        ({"instruction": "Tránh\x7f"}, "alert.infos[0].instruction"),
        ({"expires": datetime.now(UTC) - timedelta(minutes=1)}, "alert.infos[0].expires"),
    ],
)
def test_control_characters_and_a_past_expiry_are_refused_at_draft_naming_the_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_alert(AlertIn(infos=(info(**overrides),)), now=datetime.now(UTC))
    assert field in [v.field for v in caught.value.violations]


def test_free_text_keeps_line_breaks_and_tabs() -> None:
    clean = validate_alert(AlertIn(infos=(info(description="Dòng 1\n\tDòng 2\r\n", expires=None),),
                                   note="Ghi chú\nhai dòng"), now=datetime.now(UTC))
    assert clean.infos[0].description == "Dòng 1\n\tDòng 2\r\n"
    with pytest.raises(ValidationFailed) as caught:
        validate_alert(AlertIn(infos=(info(expires=None),), note="x\x01"), now=datetime.now(UTC))
    assert [v.field for v in caught.value.violations] == ["alert.note"]
