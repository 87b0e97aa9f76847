"""The shared codecs and geography (cityops_platform.codecs, .geo): written once, used by every service."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_platform import codecs, geo
from cityops_platform.errors import ValidationFailed

ICT = timezone(timedelta(hours=7))


def test_an_aware_datetime_leaves_as_the_same_instant_in_utc() -> None:
    moment = datetime(2026, 7, 1, 14, 30, tzinfo=ICT)
    back = codecs.from_timestamp(codecs.to_timestamp(moment))
    assert back == moment and back.tzinfo == UTC and back.hour == 7


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert codecs.to_timestamp(datetime(2026, 7, 1, 7, 30)).ToDatetime(tzinfo=UTC) == datetime(
        2026, 7, 1, 7, 30, tzinfo=UTC)


def test_none_stays_unset() -> None:
    assert codecs.timestamp_or_none(None) is None
    msg = pb.Incident()
    codecs.set_timestamp(msg.updated_at, None)
    assert not msg.HasField("updated_at")
    codecs.set_timestamp(msg.updated_at, datetime(2026, 1, 1, tzinfo=UTC))
    assert msg.HasField("updated_at") and codecs.is_set(msg.updated_at)


def test_a_timestamp_out_of_range_is_invalid_argument_on_the_named_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        codecs.from_timestamp(Timestamp(seconds=10**13), "report.occurred_at")
    assert [v.field for v in err.value.violations] == ["report.occurred_at"]


def test_enum_names_are_short_and_unknown_numbers_are_named() -> None:
    value = codecs.enum_value(pb.Category, "CATEGORY_", "FLOOD")
    assert value == pb.CATEGORY_FLOOD
    assert codecs.enum_name(pb.Category, "CATEGORY_", value) == "FLOOD"
    assert codecs.enum_name(pb.Category, "CATEGORY_", 0) == "" and codecs.enum_value(pb.Category, "CATEGORY_", "") == 0
    assert codecs.enum_name(pb.Category, "CATEGORY_", 4242) == "UNKNOWN(4242)"


def test_haversine_between_thu_dau_mot_and_di_an_is_about_15_km() -> None:
    assert 14_000 < geo.haversine_m(10.9804, 106.6519, 10.9069, 106.7693) < 16_000
    assert geo.haversine_m(10.98, 106.65, 10.98, 106.65) == 0.0


def test_a_named_point_reads_reference_data_with_its_own_name_or_one_given() -> None:
    entry = {"name": "Phường Thủ Dầu Một", "lat": "10.9804", "lon": 106.6519}
    assert geo.NamedPoint.of(entry) == geo.NamedPoint("Phường Thủ Dầu Một", 10.9804, 106.6519)
    assert geo.NamedPoint.of(entry, "TDM").name == "TDM"
    with pytest.raises(KeyError):
        geo.NamedPoint.of({"name": "no point"})


@pytest.mark.parametrize(("lat", "lon", "fields"), [
    (10.98, 106.65, []),
    (91, 106.65, ["p.lat"]),
    (10.98, -181, ["p.lon"]),
    (math.nan, math.inf, ["p.lat", "p.lon"]),
])
def test_coordinates_out_of_wgs84_range_name_their_field(lat: float, lon: float, fields: list[str]) -> None:
    violations = geo.coordinate_violations(lat, lon, "p")
    assert [v.field for v in violations] == fields
    assert all("(latitude out of range)" in v.description or "(longitude out of range)" in v.description
               for v in violations)


def test_a_page_token_carries_its_keyset_and_a_forged_one_is_invalid_argument() -> None:
    token = codecs.encode_page_token("2026-07-01T07:30:00+00:00", "u-1")
    assert "=" not in token and codecs.decode_page_token(token, 2) == ["2026-07-01T07:30:00+00:00", "u-1"]
    assert codecs.decode_page_token("", 1) == []
    for forged in ("%%%", codecs.encode_page_token("a"), "bm90IGpzb24"):
        with pytest.raises(ValidationFailed) as err:
            codecs.decode_page_token(forged, 2)
        assert [v.field for v in err.value.violations] == ["page_token"]
