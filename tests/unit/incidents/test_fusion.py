"""Fusion rules: radius and window per category, nearest match, H3 lock and search cells."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import h3
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops_incidents import geo
from cityops_incidents.incidents.fusion import Candidate, best_match, fuses
from cityops_incidents.rules import FusionRule, load_rules

RULES = load_rules()
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TDM = (10.980, 106.655)  # Thủ Dầu Một


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + math.degrees(north_m / geo.EARTH_RADIUS_M),
            lon + math.degrees(east_m / (geo.EARTH_RADIUS_M * math.cos(math.radians(lat)))))


def test_field_report_rule_is_150_m_and_30_min() -> None:
    rule = RULES.fusion_rule("FIELD_REPORT")
    assert rule.radius_m == 150 and rule.window == timedelta(minutes=30)


def test_report_within_radius_and_window_matches() -> None:
    lat, lon = offset(*TDM, 100, 0)
    m = best_match(RULES.fusion_rule("FIELD_REPORT"), lat=lat, lon=lon, at=NOW,
                   candidates=[Candidate("a", *TDM, NOW - timedelta(minutes=10))])
    assert m is not None and m.incident_id == "a" and 95 < m.distance_m < 105


def test_report_beyond_radius_does_not_match() -> None:
    lat, lon = offset(*TDM, 0, 200)
    assert best_match(RULES.fusion_rule("FIELD_REPORT"), lat=lat, lon=lon, at=NOW,
                      candidates=[Candidate("a", *TDM, NOW)]) is None


def test_report_after_window_does_not_match() -> None:
    assert best_match(RULES.fusion_rule("FIELD_REPORT"), lat=TDM[0], lon=TDM[1], at=NOW,
                      candidates=[Candidate("a", *TDM, NOW - timedelta(minutes=31))]) is None


def test_nearest_candidate_wins() -> None:
    far, near = offset(*TDM, 120, 0), offset(*TDM, 30, 0)
    m = best_match(RULES.fusion_rule("FIELD_REPORT"), lat=TDM[0], lon=TDM[1], at=NOW,
                   candidates=[Candidate("far", *far, NOW), Candidate("near", *near, NOW)])
    assert m is not None and m.incident_id == "near"


def test_administrative_procedures_are_never_fused() -> None:
    rule = RULES.fusion_rule("ADMINISTRATIVE_PROCEDURE")
    assert not fuses(rule)
    assert best_match(rule, lat=TDM[0], lon=TDM[1], at=NOW, candidates=[Candidate("a", *TDM, NOW)]) is None


def test_flood_radius_is_wider_than_field_report() -> None:
    lat, lon = offset(*TDM, 400, 0)
    cands = [Candidate("a", *TDM, NOW)]
    assert best_match(RULES.fusion_rule("FLOOD"), lat=lat, lon=lon, at=NOW, candidates=cands) is not None
    assert best_match(RULES.fusion_rule("FIELD_REPORT"), lat=lat, lon=lon, at=NOW, candidates=cands) is None


points = st.tuples(st.floats(10.86, 11.49), st.floats(106.34, 106.97))
bearing = st.floats(0, 2 * math.pi)
Point = tuple[float, float]


@st.composite
def near_pairs(draw: st.DrawFn) -> tuple[Point, Point, float]:
    """A point, a second point within ``radius`` of it (any bearing), and the radius."""
    p = draw(points)
    angle, frac = draw(bearing), draw(st.floats(0, 1))
    radius = draw(st.sampled_from([50.0, 150.0, 500.0, 1000.0]))
    return p, offset(*p, math.cos(angle) * radius * frac, math.sin(angle) * radius * frac), radius


@settings(max_examples=300, deadline=None)
@given(near=near_pairs())
def test_two_reports_within_radius_share_a_lock_cell(near: tuple[Point, Point, float]) -> None:
    p, q, radius = near
    assert set(geo.lock_cells(*p, radius)) & set(geo.lock_cells(*q, radius))


@settings(max_examples=300, deadline=None)
@given(near=near_pairs())
def test_search_cells_cover_every_point_within_radius(near: tuple[Point, Point, float]) -> None:
    p, q, radius = near
    assert geo.cell_of(*q) in set(geo.search_cells(*p, radius))


def test_lock_cells_are_sorted_for_a_stable_lock_order() -> None:
    cells = geo.lock_cells(*TDM, 150)
    assert cells == sorted(cells) and len(cells) == 7
    assert all(h3.get_resolution(c) == geo.lock_resolution(150) for c in cells)


def test_zero_radius_rule_does_not_fuse() -> None:
    assert not fuses(FusionRule(0, timedelta(minutes=5)))
