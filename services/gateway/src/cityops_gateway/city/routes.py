"""``GET /api/city``: what the console needs to present this city (title per language, map centre
and zoom, languages, map layers, the category and agency registry), ``GET /city/map/<id>``: the
city's map layers (GeoJSON files of its folder), ``GET /api/admin-units``: its wards and communes
(the console's ward filter), and ``GET /console/i18n/<lang>.json``: the console's strings of one
language. Public: nothing here is confidential, and the console shows the title and its strings
before anyone logs in.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from cityops_gateway.settings import STATIC_DIR
from cityops_gateway.web import ApiError
from cityops_platform.city import City, current_city
from cityops_platform.geo.admin_units import admin_units

CONSOLE_STRINGS_DIR = STATIC_DIR / "i18n"
CITY_STRINGS_DIR = "console/i18n"  # in the city folder: additions and overrides per language
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def city_profile(city: City) -> dict[str, Any]:
    """The console profile of ``city`` (JSON-ready)."""
    return {
        "name": city.name,
        "languages": list(city.languages),
        "default_language": city.default_language,
        "timezone": city.timezone,
        "title": dict(city.branding.title),
        "map": {"centre": list(city.branding.centre), "zoom": city.branding.zoom},
        "service_area": {"names": dict(city.service_area.names),
                         "polygon": [list(p) for p in city.service_area.polygon]},
        "layers": [{"id": layer.id, "names": dict(layer.names), "url": f"/city/map/{layer.id}"}
                   for layer in city.map_layers],
        "agencies": [{"code": a.code, "names": dict(a.names), "phone": a.phone} for a in city.agencies],
        "categories": [{"code": c.code, "names": dict(c.names), "agency": c.agency,
                        "subcategories": [{"code": s.code, "names": dict(s.names)} for s in c.subcategories]}
                       for c in city.categories],
    }


async def city(request: Request) -> JSONResponse:
    return JSONResponse(city_profile(current_city()), headers={"Cache-Control": "public, max-age=60"})


async def map_layer(request: Request) -> FileResponse:
    """One of the city's declared layers; any other id is 404 (no path from the request is opened)."""
    here = current_city()
    layer = next((m for m in here.map_layers if m.id == request.path_params["layer_id"]), None)
    path = here.file(layer.file) if layer is not None else None
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", "Không có lớp bản đồ này (no such map layer)")
    return FileResponse(path, media_type="application/geo+json", headers={"Cache-Control": "public, max-age=300"})


def _read_strings(path: Any) -> dict[str, str]:
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v.strip()}


def console_strings(city: City, lang: str) -> dict[str, str] | None:
    """The console's strings of ``lang``: the shipped file (``static/i18n/<lang>.json``) overlaid
    with the city's own (``console/i18n/<lang>.json`` of its folder); ``None`` when neither exists
    (the console then falls back to the city's default language). Empty values are dropped, so a
    missing key falls back too and never shows blank."""
    if not LANGUAGE_TAG.match(lang):
        return None
    shipped = CONSOLE_STRINGS_DIR / f"{lang}.json"
    own = city.file(f"{CITY_STRINGS_DIR}/{lang}.json")
    if not shipped.is_file() and not own.is_file():
        return None
    return {**_read_strings(shipped), **_read_strings(own)}


async def strings(request: Request) -> JSONResponse:
    found = console_strings(current_city(), request.path_params["lang"])
    if found is None:
        raise ApiError(404, "not_found", "Không có bản dịch cho ngôn ngữ này (no strings for this language)")
    return JSONResponse(found, headers={"Cache-Control": "public, max-age=60"})


def admin_unit_list(city: City) -> list[dict[str, Any]]:
    """The city's current wards and communes (code, names, kind, centroid), in the registry's order;
    empty for a city without ``admin_units.yaml``."""
    return [{"code": u.code, "name": u.name, "short_name": u.short_name, "name_en": u.name_en,
             "kind": u.kind, "centroid": {"lat": u.lat, "lon": u.lon}}
            for u in admin_units(city.path).units.values()]


async def units(request: Request) -> JSONResponse:
    return JSONResponse({"admin_units": admin_unit_list(current_city())},
                        headers={"Cache-Control": "public, max-age=300"})


ROUTES = [
    Route("/api/city", city),
    Route("/api/admin-units", units),
    Route("/city/map/{layer_id}", map_layer),
    Route("/console/i18n/{lang}.json", strings),
]
