"""Number format, text normalisation, phone masking and the service-area polygon."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops_incidents import geo
from cityops_incidents.incidents.intake import incident_number
from cityops_incidents.rules import load_rules, parse_duration
from cityops_incidents.text import is_valid_phone, mask_phone, normalize, search_terms

RULES = load_rules()
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def test_number_uses_local_date_in_ho_chi_minh() -> None:
    # 20:00 UTC on the 25th is 03:00 on the 26th in Vietnam (UTC+7).
    assert incident_number(RULES, datetime(2026, 11, 25, 20, 0, tzinfo=UTC), 123) == "BD-20261126-000123"


@pytest.mark.parametrize(("text", "expected"), [
    ("Đường NGẬP  sâu", "duong ngap sau"), ("đường ngập", "duong ngap"), ("Thủ Dầu Một", "thu dau mot"),
])
def test_normalize_strips_diacritics_and_case(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_search_terms_split_on_spaces() -> None:
    assert search_terms("  Đường   ngập ") == ["duong", "ngap"]


@pytest.mark.parametrize(("phone", "masked"), [
    ("0912345678", "09xx xxx 678"), ("+84912345678", "09xx xxx 678"), ("0912 345 678", "09xx xxx 678"),
    ("02838123456", "02xx xxx 456"), ("12345", "***"), ("", ""),
])
def test_phone_is_masked(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(("phone", "ok"), [
    ("0912345678", True), ("+84912345678", True), ("091-234-5678", True), ("12345", False), ("abc", False),
])
def test_vietnamese_phone_format(phone: str, ok: bool) -> None:
    assert is_valid_phone(phone) is ok


@pytest.mark.parametrize(("lat", "lon", "inside"), [
    (10.980, 106.655, True),   # Thủ Dầu Một
    (10.905, 106.770, True),   # Dĩ An
    (11.300, 106.400, True),   # Dầu Tiếng
    (10.776, 106.700, False),  # Ho Chi Minh City centre
    (21.028, 105.854, False),  # Hà Nội
])
def test_service_area_polygon(lat: float, lon: float, inside: bool) -> None:
    assert geo.inside_polygon(lat, lon, RULES.area_polygon) is inside


def test_ward_of_a_report_is_its_commune_level_unit() -> None:
    assert geo.ward_of(10.981, 106.652) == ("25747", "Phường Thủ Dầu Một")
    # an address written the pre-2025 way names the unit it became, whatever the point
    assert geo.ward_of(10.981, 106.652, "phường Lái Thiêu, thị xã Thuận An") == ("25966", "Phường Lái Thiêu")
    assert geo.ward_of(21.028, 105.854) == ("", "")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("3d", 259200), (10, 10)])
def test_durations_parse(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds
