"""Validation names every bad field, all at once, without a network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops_incidents.incidents.models import ReportIn, TransitionIn
from cityops_incidents.incidents.validation import validate_note, validate_report, validate_transition
from cityops_incidents.rules import load_rules
from cityops_platform.errors import ValidationFailed

RULES = load_rules()
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ID = "00000000-0000-4000-8000-000000000001"


def fields(call: object) -> list[str]:
    with pytest.raises(ValidationFailed) as err:
        call()  # type: ignore[operator]
    return sorted(v.field for v in err.value.violations)


def good(**changes: object) -> ReportIn:
    r = ReportIn(category="FIELD_REPORT", source="HOTLINE_1022", lat=10.98, lon=106.655, idempotency_key="k")
    for key, value in changes.items():
        setattr(r, key, value)
    return r


def test_a_good_report_passes() -> None:
    validate_report(RULES, good(reporter_phone="0912345678", occurred_at=NOW - timedelta(minutes=5)), now=NOW)


def test_outside_service_area_names_location() -> None:
    assert fields(lambda: validate_report(RULES, good(lat=10.776, lon=106.700), now=NOW)) == ["location"]


def test_out_of_range_coordinates_name_lat_and_lon() -> None:
    assert fields(lambda: validate_report(RULES, good(lat=float("nan"), lon=181), now=NOW)) == [
        "location.lat", "location.lon"]


def test_unknown_enums_and_missing_required_fields_are_named() -> None:
    r = good(category="UNKNOWN(99)", source="", idempotency_key="", has_location=False)
    assert fields(lambda: validate_report(RULES, r, now=NOW)) == ["category", "idempotency_key", "location", "source"]


def test_lengths_are_bounded() -> None:
    r = good(description="x" * 4001, subcategory="y" * 65, address="z" * 257, idempotency_key="k" * 129)
    assert fields(lambda: validate_report(RULES, r, now=NOW)) == [
        "description", "idempotency_key", "location.address", "subcategory"]


def test_future_occurred_at_is_refused_but_small_skew_is_allowed() -> None:
    validate_report(RULES, good(occurred_at=NOW + timedelta(seconds=30)), now=NOW)
    assert fields(lambda: validate_report(RULES, good(occurred_at=NOW + timedelta(hours=1)), now=NOW)) == [
        "occurred_at"]


def test_transition_rules_for_reason_and_duplicate_of() -> None:
    assert fields(lambda: validate_transition(RULES, TransitionIn(ID, "CANCELLED", expected_version=3))) == ["reason"]
    assert fields(lambda: validate_transition(
        RULES, TransitionIn(ID, "DUPLICATE", reason="x", expected_version=3))) == ["duplicate_of"]
    assert fields(lambda: validate_transition(
        RULES, TransitionIn(ID, "DUPLICATE", reason="x", duplicate_of=ID, expected_version=3))) == ["duplicate_of"]
    assert fields(lambda: validate_transition(RULES, TransitionIn("nope", "UNKNOWN(9)", expected_version=3))) == [
        "id", "to_status"]


def test_transition_without_expected_version_names_the_field() -> None:
    assert fields(lambda: validate_transition(RULES, TransitionIn(ID, "ACKNOWLEDGED"))) == ["expected_version"]
    assert fields(lambda: validate_transition(RULES, TransitionIn(ID, "ACKNOWLEDGED", expected_version=-1))) == [
        "expected_version"]
    validate_transition(RULES, TransitionIn(ID, "ACKNOWLEDGED", expected_version=1))


def test_note_text_is_required_and_bounded() -> None:
    assert fields(lambda: validate_note(RULES, ID, "  ")) == ["text"]
    assert fields(lambda: validate_note(RULES, ID, "n" * 4001)) == ["text"]
