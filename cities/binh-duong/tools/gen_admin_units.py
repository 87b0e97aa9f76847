"""Generate the reference city's administrative units (cities/binh-duong/admin_units.yaml and
cities/binh-duong/map/wards.geojson) from the open dataset of ``vietnamadminunits`` (MIT).

This runs once, by hand, in a scratch virtualenv; CityOps never imports these packages at run time
(the files it writes are the data). ``vietnam-provinces`` is GPL-3.0-or-later, so it is only an
optional cross-check of names and codes here and never a dependency of the project:

    python3 -m venv /tmp/adminunits && /tmp/adminunits/bin/pip install \
        vietnamadminunits==1.0.4 shapely==2.1.2 PyYAML==6.0.2 [vietnam-provinces==2025.10.1]
    /tmp/adminunits/bin/python cities/binh-duong/tools/gen_admin_units.py

What each source holds (checked for 2025.10.1 / 1.0.4):
- vietnamadminunits: the 3321 post-July-2025 units with their statistical code, official name,
  kind, a representative point and area (km²); the 10040 legacy units (province, district, ward)
  with their codes and points; and the legacy→new conversion table (which old wards form each new
  unit, and for old wards split between several new units, which one is the default).
- vietnam-provinces: the post-July-2025 provinces and wards with the same statistical codes, no
  geometry, no legacy mapping.

Neither carries ward boundaries. The polygons written here are therefore APPROXIMATE: the Voronoi
cells of the new units' points and of the legacy wards' points (each legacy ward labelled with the
new unit it became), merged per new unit and clipped to the former province outline that the
console already ships. They are good enough to colour a map and to give a point its ward; they are
not a cadastral boundary, and the data says so (``geometry: approximate``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

import shapely
import yaml
from shapely.geometry import MultiPoint, Point, mapping, shape
from shapely.ops import unary_union

CITY_DIR = Path(__file__).resolve().parent.parent  # this city folder (the script is its own data tool)
OUTLINE = CITY_DIR / "map" / "service_area.geojson"
OLD_PROVINCE_KEY = "tinhbinhduong"
OLD_PROVINCE_CODE = "74"
NEW_PROVINCE_KEY = "thanhphohochiminh"
NEW_PROVINCE_CODE = "79"


def _dataset() -> tuple[sqlite3.Connection, dict]:
    import vietnamadminunits

    pkg = Path(vietnamadminunits.__file__).parent / "data"
    conn = sqlite3.connect(pkg / "dataset.db")
    conv = json.loads((pkg / "converter_2025.json").read_text(encoding="utf-8"))
    return conn, conv


def _ascii_en(name: str) -> str:
    """English spelling without diacritics (the way the console's English labels are written)."""
    import unicodedata

    s = name.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def main() -> int:
    conn, conv = _dataset()
    new_rows = {
        r[7]: r
        for r in conn.execute(
            "select ward, wardShort, wardType, wardCode, wardLat, wardLon, wardAreaKm2, wardKey "
            "from admin_units where provinceCode = ?",
            (NEW_PROVINCE_CODE,),
        )
    }
    legacy = {
        f"{OLD_PROVINCE_KEY}_{r[9]}_{r[10]}": r
        for r in conn.execute(
            "select district, ward, districtCode, wardCode, wardLat, wardLon, wardType, districtType, "
            "districtShort, districtKey, wardKey, wardShort from admin_units_legacy where provinceCode = ?",
            (OLD_PROVINCE_CODE,),
        )
    }
    whole = conv["DICT_PROVINCE_WARD_NO_DIVIDED"][NEW_PROVINCE_KEY]
    divided = conv["DICT_PROVINCE_WARD_DIVIDED"][NEW_PROVINCE_KEY]

    # new unit key -> [(legacy key, whole?)]
    sources: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for new_key, olds in whole.items():
        for old in olds:
            if old.startswith(OLD_PROVINCE_KEY + "_"):
                sources[new_key].append((old, True))
    split_default: dict[str, str] = {}
    for old, targets in divided.items():
        if not old.startswith(OLD_PROVINCE_KEY + "_"):
            continue
        for t in targets:
            sources[t["newWardKey"]].append((old, False))
            if t["isDefaultNewWard"]:
                split_default[old] = t["newWardKey"]

    missing_legacy = sorted({o for v in sources.values() for o, _ in v} - set(legacy))
    if missing_legacy:
        print("legacy wards without a record:", missing_legacy, file=sys.stderr)
        return 1
    unmapped = sorted(set(legacy) - {o for v in sources.values() for o, _ in v})
    if unmapped:
        print("legacy wards mapped to no new unit:", unmapped, file=sys.stderr)
        return 1

    units = []
    for new_key in sorted(sources, key=lambda k: new_rows[k][3]):
        name, short, kind, code, lat, lon, area, _ = new_rows[new_key]
        formers = []
        districts: list[str] = []
        for old, is_whole in sorted(sources[new_key], key=lambda s: legacy[s[0]][3]):
            r = legacy[old]
            formers.append({
                "code": r[3],
                "name": r[1],
                "district": r[0],
                "district_code": r[2],
                "whole": is_whole,
                "default": None if is_whole else split_default.get(old) == new_key,
            })
            if r[0] not in districts:
                districts.append(r[0])
        units.append({
            "code": code,
            "name": name,
            "short_name": short,
            "name_en": f"{_ascii_en(short)} {'Ward' if kind == 'Phường' else 'Commune'}",
            "kind": kind.lower(),
            "former_districts": districts,
            "former_units": [{k: v for k, v in f.items() if v is not None} for f in formers],
            "centroid": {"lat": lat, "lon": lon},
            "area_km2": area,
        })

    kinds = defaultdict(int)
    for u in units:
        kinds[u["kind"]] += 1
    print(f"{len(units)} units: {dict(kinds)}", file=sys.stderr)
    if len(units) != 36 or kinds["phường"] != 24 or kinds["xã"] != 12:
        print("expected 36 units (24 phường, 12 xã)", file=sys.stderr)
        return 1
    _cross_check(units)

    districts_out = []
    for key in sorted({(r[2], r[0], r[8], r[7]) for r in legacy.values()}):
        dcode, dname, dshort, dtype = key
        targets = sorted({u["code"] for u in units for f in u["former_units"] if f["district_code"] == dcode})
        districts_out.append({"code": dcode, "name": dname, "short_name": dshort, "kind": dtype.lower(),
                              "units": targets})

    geometry = _polygons(units, legacy, sources, {k: new_rows[k][3] for k in sources})

    CITY_DIR.mkdir(parents=True, exist_ok=True)
    (CITY_DIR / "map").mkdir(exist_ok=True)
    doc = {
        "generated_by": "tools/gen_admin_units.py (vietnamadminunits 1.0.4, MIT; do not edit by hand)",
        "effective": "2025-07-01",
        "parent": {"code": NEW_PROVINCE_CODE, "name": "Thành phố Hồ Chí Minh", "name_en": "Ho Chi Minh City",
                   # other ways callers name the parent city in an address
                   "aliases": ["TP. Hồ Chí Minh", "TP Hồ Chí Minh", "TP.HCM", "TP HCM", "HCM", "Hồ Chí Minh",
                               "Sài Gòn"]},
        "former_province": {"code": OLD_PROVINCE_CODE, "name": "Tỉnh Bình Dương", "short_name": "Bình Dương"},
        "geometry": "approximate",
        "units": units,
        "former_districts": districts_out,
    }
    header = (
        "# Đơn vị hành chính cấp xã của khu vực Bình Dương cũ (TP. Hồ Chí Minh từ 01/07/2025).\n"
        "# Commune-level units of the former Binh Duong area (Ho Chi Minh City since 1 July 2025).\n"
        "# Generated by cities/binh-duong/tools/gen_admin_units.py; codes are the statistical codes (mã thống kê).\n"
    )
    (CITY_DIR / "admin_units.yaml").write_text(
        header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    feats = [{
        "type": "Feature",
        "properties": {"kind": u["kind"], "code": u["code"], "name": u["name"], "short_name": u["short_name"],
                       "name_en": u["name_en"], "label_lat": u["centroid"]["lat"],
                       "label_lon": u["centroid"]["lon"], "approximate": True},
        "geometry": geometry[u["code"]],
    } for u in units]
    gj = {"type": "FeatureCollection",
          "note": ("Ranh giới GẦN ĐÚNG (ô Voronoi của điểm đại diện các phường/xã mới và cũ, cắt theo ranh "
                   "tỉnh cũ), không phải ranh giới pháp lý. APPROXIMATE boundaries (Voronoi cells of new and "
                   "former unit points, clipped to the former province outline), not legal boundaries. "
                   "Generated by cities/binh-duong/tools/gen_admin_units.py."),
          "features": feats}
    (CITY_DIR / "map" / "wards.geojson").write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    print("wrote", CITY_DIR / "admin_units.yaml", CITY_DIR / "map" / "wards.geojson", file=sys.stderr)
    return 0


def _cross_check(units: list[dict]) -> None:
    """Names and codes against vietnam-provinces when it is installed (a check only: GPL)."""
    try:
        from vietnam_provinces import Ward
    except ImportError:
        print("vietnam-provinces not installed: cross-check skipped", file=sys.stderr)
        return
    bad = []
    for u in units:
        try:
            w = Ward.from_code(int(u["code"]))
        except Exception:
            bad.append((u["code"], u["name"], "missing"))
            continue
        if w.name != u["name"] or int(w.province_code) != int(NEW_PROVINCE_CODE):
            bad.append((u["code"], u["name"], w.name))
    if bad:
        raise SystemExit(f"vietnam-provinces disagrees: {bad}")
    print("vietnam-provinces agrees on all 36 names and codes", file=sys.stderr)


def _polygons(units: list[dict], legacy: dict, sources: dict, code_of: dict[str, str]) -> dict[str, dict]:
    outline_doc = json.loads(OUTLINE.read_text(encoding="utf-8"))
    outline = next(shape(f["geometry"]) for f in outline_doc["features"] if f["properties"]["kind"] == "province")
    sites: list[tuple[Point, str]] = []
    by_code = {u["code"]: u for u in units}
    for u in units:
        sites.append((Point(u["centroid"]["lon"], u["centroid"]["lat"]), u["code"]))
    for new_key, olds in sources.items():
        code = code_of[new_key]
        for old, is_whole in olds:
            if is_whole:  # a split legacy ward's point belongs to several new units: not a site
                r = legacy[old]
                sites.append((Point(r[5], r[4]), code))
    pts = MultiPoint([p for p, _ in sites])
    # The shipped outline is coarse: a few unit points lie just outside it. The area covered is the
    # outline plus the hull of every point, so each unit's cell holds its own point.
    region = unary_union([outline, pts.convex_hull.buffer(0.01)])
    cells = shapely.voronoi_polygons(pts, extend_to=outline.buffer(0.5))
    parts: dict[str, list] = defaultdict(list)
    for cell in cells.geoms:
        owner = next(code for p, code in sites if cell.contains(p))
        parts[owner].append(cell)
    out = {}
    for code in by_code:
        geom = shapely.set_precision(unary_union(parts[code]).intersection(region), 1e-5)
        centre = Point(by_code[code]["centroid"]["lon"], by_code[code]["centroid"]["lat"])
        if geom.geom_type != "Polygon" or not geom.contains(centre):
            raise SystemExit(f"cell of {code} is not one polygon around its point")
        out[code] = mapping(geom)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
