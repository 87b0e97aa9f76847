"""The H3 search radius: a unit closer than covered_radius_m(k) is always inside disk(k)."""

from __future__ import annotations

import math
import random

import pytest

from cityops_dispatch.geo import EDGE_M, cell_of, check_point, covered_radius_m, disk, haversine_m


def _offset(lat: float, lon: float, distance_m: float, bearing: float) -> tuple[float, float]:
    d = distance_m / 6_371_008.8
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def test_haversine_thu_dau_mot_to_di_an_is_about_15_km() -> None:
    assert 14_000 < haversine_m(10.9804, 106.6519, 10.9069, 106.7693) < 16_000


@pytest.mark.parametrize("k", [1, 2, 4, 8, 16, 32])
def test_units_within_covered_radius_are_found_in_the_k_disk(k: int) -> None:
    rng = random.Random(k)
    radius = covered_radius_m(k)
    for _ in range(400):
        lat, lon = 10.85 + rng.random() * 0.6, 106.35 + rng.random() * 0.6
        origin = cell_of(lat, lon)
        u_lat, u_lon = _offset(lat, lon, rng.random() * radius, rng.random() * 2 * math.pi)
        assert cell_of(u_lat, u_lon) in disk(origin, k)


def test_covered_radius_grows_with_k_and_is_zero_for_the_first_ring() -> None:
    assert covered_radius_m(1) == 0.0
    assert covered_radius_m(2) > 0
    assert covered_radius_m(64) > 80 * EDGE_M


def test_check_point_names_the_bad_field() -> None:
    assert [v.field for v in check_point(91, 106, "location")] == ["location.lat"]
    assert [v.field for v in check_point(10, 181, "unit.location")] == ["unit.location.lon"]
    assert [v.field for v in check_point(0, 0, "location")] == ["location"]
    assert check_point(10.98, 106.65, "location") == []
