"""The reference city's administrative units: the data, point → unit and address → unit.

The address corpus is written the ways callers of the 1022 hotline and Open311 clients write them
in 2026: the pre-2025 form (ward, district, province; full, abbreviated, without diacritics, with
old-style tone marks, with a street in front) and the post-2025 form (ward, Ho Chi Minh City).
Expected units follow the National Assembly Standing Committee's 2025 arrangement as carried by
the generated data (cities/binh-duong/tools/gen_admin_units.py).
"""

from __future__ import annotations

import json

import pytest

from cityops_platform.geo.admin_units import (
    FORMER_DISTRICT,
    FORMER_UNIT,
    UNIT,
    AdminUnits,
    admin_units,
    city_dir,
    normalize,
)


@pytest.fixture(scope="module")
def units() -> AdminUnits:
    return admin_units()


def test_the_reference_city_has_36_units_24_wards_12_communes(units: AdminUnits) -> None:
    kinds = [u.kind for u in units.units.values()]
    assert len(kinds) == 36
    assert kinds.count("phường") == 24 and kinds.count("xã") == 12
    assert all(len(code) == 5 and code.isdigit() for code in units.units)
    assert units.name_of("25747") == "Phường Thủ Dầu Một"
    assert units.name_of("25807") == "Xã Thanh An"  # Dầu Tiếng's commune, not Cần Giờ's Thạnh An
    assert units.parent_name == "Thành phố Hồ Chí Minh"
    # every pre-2025 ward/commune/township of the province (91) and district (9) is accounted for
    assert len(units.former_units) == 91 and len(units.former_districts) == 9
    assert all(f.targets and all(t in units.units for t in f.targets) for f in units.former_units.values())


def test_the_map_has_one_approximate_polygon_per_unit() -> None:
    doc = json.loads((city_dir() / "map" / "wards.geojson").read_text(encoding="utf-8"))
    codes = [f["properties"]["code"] for f in doc["features"]]
    assert sorted(codes) == sorted(admin_units().units)
    assert all(f["properties"]["approximate"] is True for f in doc["features"])
    assert "GẦN ĐÚNG" in doc["note"] and "APPROXIMATE" in doc["note"]


def test_every_unit_point_lies_in_its_own_polygon(units: AdminUnits) -> None:
    for code, unit in units.units.items():
        assert units.locate(unit.lat, unit.lon) == code, unit.name


def test_polygons_do_not_overlap(units: AdminUnits) -> None:
    from cityops_platform.geo.admin_units import _in_polygon

    inside_any = 0
    for i in range(60):
        for j in range(60):
            lat, lon = 10.85 + i * 0.011, 106.30 + j * 0.011
            owners = [c for c, u in units.units.items() if any(_in_polygon(lon, lat, p) for p in u.polygons)]
            assert len(owners) <= 1, (lat, lon, owners)
            inside_any += bool(owners)
    assert inside_any > 1500  # the grid mostly lies inside the former province


@pytest.mark.parametrize(("lat", "lon", "name"), [
    (10.9046, 106.7053, "Phường Lái Thiêu"),   # Đại lộ Bình Dương at Lái Thiêu market
    (11.0547, 106.6667, "Phường Bình Dương"),  # the Centralized Administrative Center
    (10.9800, 106.6490, "Phường Thủ Dầu Một"),  # Bạch Đằng riverside
    (11.3000, 106.3500, "Xã Dầu Tiếng"),
])
def test_locate_gives_the_unit_of_a_point(units: AdminUnits, lat: float, lon: float, name: str) -> None:
    assert units.name_of(units.locate(lat, lon)) == name


def test_a_point_outside_the_city_has_no_unit(units: AdminUnits) -> None:
    assert units.locate(21.0285, 105.8542) == ""  # Hà Nội
    assert units.locate(10.7769, 106.7009) == ""  # District 1 of HCMC: not the reference area
    assert units.locate(21.0285, 105.8542, max_outside_m=5000) == ""


# (address as written, the current unit it must give, how it is found)
CORPUS = [
    # pre-2025, full
    ("phường Lái Thiêu, thị xã Thuận An", "Phường Lái Thiêu", FORMER_UNIT),
    ("Phường Lái Thiêu, Thành phố Thuận An, Tỉnh Bình Dương", "Phường Lái Thiêu", FORMER_UNIT),
    ("Số 5 đường Yersin, phường Phú Cường, thành phố Thủ Dầu Một, tỉnh Bình Dương, Việt Nam",
     "Phường Thủ Dầu Một", FORMER_UNIT),
    ("Tòa nhà Trung tâm Hành chính, phường Hòa Phú, TP. Thủ Dầu Một, Bình Dương", "Phường Bình Dương", FORMER_UNIT),
    ("230 Đại lộ Bình Dương, phường Phú Hòa, TP. Thủ Dầu Một", "Phường Phú Lợi", FORMER_UNIT),
    ("Số 1 Đại lộ Bình Dương, phường Thuận Giao, TP Thuận An, Bình Dương", "Phường Thuận Giao", FORMER_UNIT),
    ("KCN VSIP, phường Bình Hòa, thành phố Thuận An", "Phường Bình Hòa", FORMER_UNIT),
    ("khu phố Tân Lập, phường Đông Hòa, TP. Dĩ An, tỉnh Bình Dương", "Phường Đông Hòa", FORMER_UNIT),
    ("phường Bình An, TP Dĩ An", "Phường Đông Hòa", FORMER_UNIT),
    ("phường An Bình, thành phố Dĩ An", "Phường Dĩ An", FORMER_UNIT),
    ("xã An Sơn, TP Thuận An", "Phường Thuận An", FORMER_UNIT),
    ("thị trấn Dầu Tiếng, huyện Dầu Tiếng, tỉnh Bình Dương", "Xã Dầu Tiếng", FORMER_UNIT),
    ("thị trấn Tân Thành, huyện Bắc Tân Uyên", "Xã Bắc Tân Uyên", FORMER_UNIT),
    ("thị trấn Phước Vĩnh, huyện Phú Giáo", "Xã Phú Giáo", FORMER_UNIT),
    ("xã Lai Hưng, huyện Bàu Bàng", "Phường Bến Cát", FORMER_UNIT),
    ("xã Cây Trường II, huyện Bàu Bàng", "Xã Trừ Văn Thố", FORMER_UNIT),
    ("phường Uyên Hưng, thị xã Tân Uyên", "Phường Tân Uyên", FORMER_UNIT),
    ("phường An Tây, thị xã Bến Cát", "Phường Tây Nam", FORMER_UNIT),
    ("xã Thanh An, huyện Dầu Tiếng", "Xã Thanh An", FORMER_UNIT),
    ("phường Tân Bình, TP Dĩ An", "Phường Tân Đông Hiệp", FORMER_UNIT),
    ("thị trấn Tân Bình, huyện Bắc Tân Uyên", "Phường Vĩnh Tân", FORMER_UNIT),
    # pre-2025, abbreviated, without diacritics, old-style tone marks
    ("P. Lái Thiêu, TX. Thuận An, Bình Dương", "Phường Lái Thiêu", FORMER_UNIT),
    ("phuong Lai Thieu, thi xa Thuan An, tinh Binh Duong", "Phường Lái Thiêu", FORMER_UNIT),
    ("Lai Thieu, Thuan An, Binh Duong", "Phường Lái Thiêu", FORMER_UNIT),
    ("phường Phú Hoà, TP. Thủ Dầu Một", "Phường Phú Lợi", FORMER_UNIT),
    ("phường Lái Thiêu thị xã Thuận An", "Phường Lái Thiêu", FORMER_UNIT),
    # an older upgrade: Mỹ Phước was a township before it became a phường
    ("thị trấn Mỹ Phước, huyện Bến Cát", "Phường Bến Cát", FORMER_UNIT),
    # a former district alone: its namesake unit, with every unit it became as candidates
    ("Thuận An, Bình Dương", "Phường Thuận An", FORMER_DISTRICT),
    ("huyện Dầu Tiếng, tỉnh Bình Dương", "Xã Dầu Tiếng", FORMER_DISTRICT),
    ("Dĩ An, Bình Dương", "Phường Dĩ An", FORMER_DISTRICT),
    # post-2025
    ("phường Thủ Dầu Một, TP. Hồ Chí Minh", "Phường Thủ Dầu Một", UNIT),
    ("Phường Bình Dương, Thành phố Hồ Chí Minh", "Phường Bình Dương", UNIT),
    ("xã Bắc Tân Uyên, TP.HCM", "Xã Bắc Tân Uyên", UNIT),
    ("Đường Nguyễn Văn Tiết, phường Lái Thiêu, TP Hồ Chí Minh", "Phường Lái Thiêu", UNIT),
    ("Phuong Di An, TP HCM", "Phường Dĩ An", UNIT),
    ("Thuận An", "Phường Thuận An", UNIT),
    ("Phú Lợi", "Phường Phú Lợi", UNIT),
    ("xã Thường Tân", "Xã Thường Tân", UNIT),
]


@pytest.mark.parametrize(("text", "name", "matched"), CORPUS)
def test_resolve_converts_old_and_new_addresses(units: AdminUnits, text: str, name: str, matched: str) -> None:
    found = units.resolve(text)
    assert found is not None, text
    assert (units.name_of(found.code), found.matched) == (name, matched)
    assert found.code in found.candidates


def test_a_former_district_lists_the_units_it_became(units: AdminUnits) -> None:
    found = units.resolve("Thuận An, Bình Dương")
    assert found is not None and not found.exact
    assert sorted(units.name_of(c) for c in found.candidates) == [
        "Phường An Phú", "Phường Bình Hòa", "Phường Lái Thiêu", "Phường Thuận An", "Phường Thuận Giao"]


def test_a_split_former_ward_gives_its_default_and_the_other_part(units: AdminUnits) -> None:
    found = units.resolve("phường Bình Chuẩn, TP. Thuận An, Bình Dương")
    assert found is not None and found.matched == FORMER_UNIT and not found.exact
    assert [units.name_of(c) for c in found.candidates] == ["Phường Thuận Giao", "Phường An Phú"]
    assert units.name_of(found.code) == "Phường Thuận Giao"


def test_a_name_shared_by_two_former_units_needs_its_district(units: AdminUnits) -> None:
    found = units.resolve("Tân Bình")  # a phường of Dĩ An and a township of Bắc Tân Uyên
    assert found is not None and found.code == ""
    assert sorted(units.name_of(c) for c in found.candidates) == ["Phường Tân Đông Hiệp", "Phường Vĩnh Tân"]
    found = units.resolve("Tân Bình, Dĩ An")
    assert found is not None and units.name_of(found.code) == "Phường Tân Đông Hiệp"


@pytest.mark.parametrize("text", [
    "Phú Lời",                          # wrong tone mark: another word, not Phú Lợi
    "xã Thạnh An, huyện Cần Giờ",       # Cần Giờ's Thạnh An is not Dầu Tiếng's Thanh An
    "phường Bến Nghé, Quận 1",          # outside the reference area
    "Đường Yersin",                     # a street names no unit
    "Đại lộ Bình Dương",                # nor does this one, though it holds a unit's name
    "",
    "Việt Nam",
])
def test_resolve_finds_nothing_it_should_not(units: AdminUnits, text: str) -> None:
    assert units.resolve(text) is None


def test_normalize_keeps_diacritics_and_unifies_tone_placement() -> None:
    assert normalize("  Phú  Hoà ") == "phú hòa" == normalize("PHÚ HÒA")
    assert normalize("Thuỷ") == "thủy"
    assert normalize("nở") != normalize("nổ")


def test_assign_prefers_an_exact_address_then_the_point(units: AdminUnits) -> None:
    lai_thieu = units.locate(10.9046, 106.7053)
    # an exact address wins over the (approximate) point
    code, how = units.assign(10.9046, 106.7053, "phường Phú Cường, TP. Thủ Dầu Một")
    assert (units.name_of(code), how) == ("Phường Thủ Dầu Một", "address")
    # a district-level address is refined by the point
    assert units.assign(10.9046, 106.7053, "Thuận An, Bình Dương") == (lai_thieu, "point")
    # no point: the district's namesake
    code, how = units.assign(None, None, "Thuận An, Bình Dương")
    assert (units.name_of(code), how) == ("Phường Thuận An", "address")
    assert units.assign(21.0285, 105.8542, "somewhere") == ("", "")


def test_another_city_folder_loads_its_own_units(tmp_path) -> None:
    (tmp_path / "admin_units.yaml").write_text(
        "parent: {code: 'NL', name: Noord-Brabant}\n"
        "units:\n- {code: '0772', name: Eindhoven, kind: gemeente, centroid: {lat: 51.44, lon: 5.47}}\n",
        encoding="utf-8")
    other = AdminUnits.load(tmp_path)
    assert other.name_of("0772") == "Eindhoven" and other.resolve("Eindhoven") is not None
    assert other.locate(51.44, 5.47, max_outside_m=1000) == "0772"


def test_a_registry_of_points_places_a_point_in_the_unit_with_the_nearest_centre() -> None:
    """A city that ships unit centres but no boundaries (``geometry: points``): nearest centre within
    ``nearest_within_m``, nothing beyond it."""
    raw = {"geometry": "points", "nearest_within_m": 5000, "units": [
        {"code": "A", "name": "Noord", "kind": "district", "centroid": {"lat": 10.10, "lon": 100.0}},
        {"code": "B", "name": "Zuid", "kind": "district", "centroid": {"lat": 10.00, "lon": 100.0}},
    ]}
    units = AdminUnits(raw)
    assert units.locate(10.08, 100.0) == "A"
    assert units.locate(10.03, 100.0) == "B"
    assert units.locate(11.0, 100.0) == ""  # ~100 km away: outside every unit
    assert units.resolve("Kerkstraat 1, Zuid").code == "B"
