"""NGSI-LD read views at ``/ngsi-ld/v1/entities``: incidents as ``Alert`` and sensors as
``Device`` / ``WaterObserved`` / ``AirQualityObserved`` (Smart Data Models).

``type=`` (one or more, short names or full IRIs) or ``id=`` (one or more) is required, as in
the NGSI-LD API; ``limit`` (default 20, at most 1000) and ``offset`` page; ``count=true`` adds
the ``NGSILD-Results-Count`` header; ``options=keyValues`` gives the simplified form. With
``Accept: application/ld+json`` the ``@context`` is in the body; otherwise the body is
``application/json`` and the context is in the ``Link`` header. Errors are NGSI-LD problem
details. Public, no login: the same incidents Open311 publishes, without any free text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops_gateway.clients import UpstreamError
from cityops_gateway.ngsild import entities as ent
from cityops_gateway.open311.catalog import incident_category
from cityops_gateway.sta.routes import sensors
from cityops_gateway.state import GatewayState, gateway_state
from cityops_platform.city import current_city
from cityops_platform.codecs import to_timestamp

# Categories the public NGSI-LD view lists (city.yaml ``open_data``; administrative cases are not).
OPEN_DATA = frozenset(c.code for c in current_city().categories if c.open_data)

PREFIX = "/ngsi-ld/v1"
CONTEXT_PATH = "/ngsi-ld/context.jsonld"
LD_JSON = "application/ld+json"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
MAX_LIMIT = 1000
MAX_COUNT = 10_000  # NGSILD-Results-Count of Alerts is exact up to this many
WINDOW = timedelta(days=90)  # as Open311's default: incidents reported in the last 90 days


class NgsiError(Exception):
    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail

    def response(self) -> JSONResponse:
        return JSONResponse({"type": ERRORS + self.kind, "title": self.kind, "detail": self.detail},
                            status_code=self.status, media_type="application/json")


def _token(state: GatewayState) -> str:
    return state.service_tokens.token("svc-gateway:public-data", "integrator")


def _context_url(state: GatewayState, request: Request) -> str:
    return (state.gateway_settings.public_base_url or str(request.base_url)).rstrip("/") + CONTEXT_PATH


def _reply(request: Request, body: Any, *, headers: dict[str, str] | None = None) -> Response:
    state = gateway_state(request)
    context = _context_url(state, request)
    headers = dict(headers or {})
    if LD_JSON in request.headers.get("accept", ""):
        body = [{**e, "@context": context} for e in body] if isinstance(body, list) else {**body, "@context": context}
        return JSONResponse(body, media_type=LD_JSON, headers=headers)
    headers["Link"] = f'<{context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    return JSONResponse(body, media_type="application/json", headers=headers)


async def context(request: Request) -> Response:
    """The JSON-LD context the entities use: Smart Data Models' and the NGSI-LD core context."""
    return JSONResponse({"@context": [ent.SDM_CONTEXT, ent.CORE_CONTEXT]}, media_type=LD_JSON)


_ts = to_timestamp


async def _alerts(state: GatewayState, wanted: int) -> list[dict[str, Any]]:
    """Public incidents (the Open311 catalog's categories, not administrative cases), newest first."""
    categories = [c for c in state.catalog.categories if c in OPEN_DATA]
    req = ipb.ListIncidentsRequest(category_codes=categories, page_size=500,
                                   created_after=_ts(datetime.now(UTC) - WINDOW))
    out: list[dict[str, Any]] = []
    while len(out) < wanted:
        page = await state.clients.call(state.clients.incidents.ListIncidents, req, token=_token(state))
        for incident in page.incidents:
            service = state.catalog.for_incident(incident_category(incident), incident.subcategory)
            if service is not None:
                out.append(ent.alert(incident, service))
        if not page.next_page_token:
            break
        req.page_token = page.next_page_token
    return out


async def _sensor_entities(state: GatewayState, types: set[str]) -> list[dict[str, Any]]:
    cached = state.public_cache.get("ngsi-sensors")
    if cached is None or time.monotonic() - cached[0] >= state.gateway_settings.public_cache_seconds:
        built: list[dict[str, Any]] = []
        for sensor in await sensors(state):
            built.append(ent.device(sensor))
            if (obs := ent.observed(sensor)) is not None:
                built.append(obs)
        state.public_cache["ngsi-sensors"] = (time.monotonic(), built)
        cached = state.public_cache["ngsi-sensors"]
    return [e for e in cached[1] if e["type"] in types]


async def _alert_by_id(state: GatewayState, ident: str) -> dict[str, Any] | None:
    number = ident.removeprefix("urn:ngsi-ld:Alert:")
    if not number or len(number) > 64:
        return None
    try:
        incident = await state.clients.call(state.clients.incidents.GetIncident,
                                            ipb.GetIncidentRequest(number=number), token=_token(state))
    except UpstreamError as exc:
        if exc.http_status in (400, 404):
            return None
        raise
    service = state.catalog.for_incident(incident_category(incident), incident.subcategory)
    if service is None or incident_category(incident) not in OPEN_DATA:
        return None
    return ent.alert(incident, service)


async def _by_ids(state: GatewayState, ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sensor_ids = [i for i in ids if not i.startswith("urn:ngsi-ld:Alert:")]
    by_id = {e["id"]: e for e in await _sensor_entities(state, set(ent.TYPES) - {"Alert"})} if sensor_ids else {}
    for ident in ids:
        if ident.startswith("urn:ngsi-ld:Alert:"):
            if (found := await _alert_by_id(state, ident)) is not None:
                out.append(found)
        elif ident in by_id:
            out.append(by_id[ident])
    return out


def _int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) > high:
        raise NgsiError(400, "BadRequestData", f"{name}: số nguyên 0..{high} (an integer 0..{high})")
    return int(raw)


async def _entities(request: Request) -> Response:
    state = gateway_state(request)
    q = request.query_params
    for unsupported in ("q", "georel", "geometry", "coordinates", "attrs", "idPattern", "csf", "scopeQ", "lang"):
        if q.get(unsupported):
            raise NgsiError(400, "NotImplemented" if unsupported != "lang" else "BadRequestData",
                            f"{unsupported}: chưa hỗ trợ trong chế độ xem này (not supported by this view)")
    limit = _int(request, "limit", 20, MAX_LIMIT)
    offset = _int(request, "offset", 0, 1_000_000)
    options = {o.strip() for o in q.get("options", "").split(",") if o.strip()}
    if options - {"keyValues", "normalized"}:
        raise NgsiError(400, "BadRequestData", "options: keyValues hoặc normalized (keyValues or normalized)")
    raw_types = [t.strip() for t in q.get("type", "").split(",") if t.strip()]
    ids = [i.strip() for i in q.get("id", "").split(",") if i.strip()]
    if not raw_types and not ids:
        raise NgsiError(400, "BadRequestData", "cần type hoặc id (type or id is required)")
    types = {ent.parse_type(t) or "" for t in raw_types}
    if "" in types:
        known = ", ".join(ent.TYPES)
        raise NgsiError(400, "BadRequestData", f"type: chỉ có {known} (known types)")
    if ids:
        found = [e for e in await _by_ids(state, ids) if not types or e["type"] in types]
    else:
        found = []
        if "Alert" in types:  # a count needs them all (up to MAX_COUNT); a page only needs its own
            counting = q.get("count", "").lower() == "true"
            found += await _alerts(state, MAX_COUNT if counting else offset + limit)
        if types - {"Alert"}:
            found += await _sensor_entities(state, types - {"Alert"})
    page = found[offset:offset + limit]
    if "keyValues" in options:
        page = [ent.key_values(e) for e in page]
    headers = {"NGSILD-Results-Count": str(len(found))} if q.get("count", "").lower() == "true" else {}
    return _reply(request, page, headers=headers)


async def _entity(request: Request) -> Response:
    state = gateway_state(request)
    ident = request.path_params["entity_id"]
    found = await _by_ids(state, [ident])
    if not found:
        raise NgsiError(404, "ResourceNotFound", f"không có thực thể này (no such entity): {ident}")
    body = found[0]
    if "keyValues" in request.query_params.get("options", ""):
        body = ent.key_values(body)
    return _reply(request, body)


def _guarded(handler: Any) -> Any:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except NgsiError as exc:
            return exc.response()
        except UpstreamError as exc:
            if exc.http_status >= 500 or exc.http_status in (401, 403):
                unavailable = "dịch vụ tạm thời không khả dụng (service unavailable)"
                return NgsiError(503, "InternalError", unavailable).response()
            return NgsiError(400, "BadRequestData", exc.message).response()

    return run


ROUTES = [
    Route(CONTEXT_PATH, context),
    Route(f"{PREFIX}/entities", _guarded(_entities)),
    Route(f"{PREFIX}/entities/{{entity_id:path}}", _guarded(_entity)),
]
