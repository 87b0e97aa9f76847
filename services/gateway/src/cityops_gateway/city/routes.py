"""``GET /api/city``: what the console needs to present this city (title per language, map centre
and zoom, languages, map layers, the category and agency registry), and ``GET /city/map/<id>``: the
city's map layers (GeoJSON files of its folder). Public: nothing here is confidential, and the
console shows the title before anyone logs in.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from cityops_gateway.web import ApiError
from cityops_platform.city import City, current_city


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


ROUTES = [
    Route("/api/city", city),
    Route("/city/map/{layer_id}", map_layer),
]
