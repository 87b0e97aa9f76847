"""The console's JSON API under /api: a thin proxy to the services' gRPC APIs.

The operator's JWT is forwarded as the bearer token, so every permission is decided by the
service that owns the data; the gateway only checks that a valid token is present.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cityops.dispatch.v1 import dispatch_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops.sensors.v1 import sensors_pb2
from cityops_gateway.clients import ServiceClients
from cityops_gateway.console.kpis import compute_kpis
from cityops_gateway.events.decode import to_json
from cityops_gateway.events.filters import CONSOLE_ROLES
from cityops_gateway.security import clear_cookie_header, session_cookie_header
from cityops_gateway.state import gateway_state
from cityops_gateway.throttle import client_address, throttled
from cityops_gateway.web import (
    ApiError,
    bearer_token,
    expected_version,
    json_body,
    parse_enum,
    parse_enum_list,
    parse_int,
    text_field,
    unauthenticated,
)
from cityops_platform import auth


def _token(request: Request) -> str:
    """The bearer token after a local signature check (401 early, before any upstream call)."""
    token = bearer_token(request)
    try:
        gateway_state(request).codec.verify(token)
    except auth.AuthError as exc:
        raise unauthenticated(exc) from None
    return token


T = TypeVar("T")
Rpc = Callable[[ServiceClients], Callable[..., Awaitable[T]]]


async def upstream(request: Request, rpc: Rpc[T], req: Any) -> T:
    """``req`` sent to the method ``rpc`` picks from the clients, with the operator's token (checked
    locally first, so a bad token is a 401 before any upstream call)."""
    state = gateway_state(request)
    return await state.clients.call(rpc(state.clients), req, token=_token(request))


async def relay(request: Request, rpc: Rpc[Any], req: Any) -> JSONResponse:
    """``upstream`` with the reply as the JSON body."""
    return JSONResponse(to_json(await upstream(request, rpc, req)))


async def login(request: Request) -> JSONResponse:
    state = gateway_state(request)
    body = await json_body(request)
    username = text_field(body, "username", max_len=128, required=True)
    password = text_field(body, "password", max_len=256, required=True)
    address = client_address(request.scope.get("client"))
    throttled(state.login_throttle, username, address)
    operator = await run_in_threadpool(state.users.authenticate, username, password)
    if operator is None:
        state.login_throttle.failed(username, address)
        raise ApiError(401, "unauthenticated", "sai tên đăng nhập hoặc mật khẩu (wrong username or password)")
    state.login_throttle.succeeded(username)
    ttl = state.gateway_settings.login_ttl_seconds
    token = state.codec.issue(operator.username, operator.roles, ttl_seconds=ttl)
    response = JSONResponse(
        {
            "token": token,
            "username": operator.username,
            "display_name": operator.display_name,
            "roles": list(operator.roles),
            "expires_at": int(time.time()) + ttl,
        }
    )
    secure = state.settings.environment != "local"
    response.headers.append("set-cookie", session_cookie_header(token, max_age=ttl, secure=secure))
    return response


async def logout(request: Request) -> Response:
    """Ends the console session: the HttpOnly cookie is cleared (the JWT itself expires on its own)."""
    response = Response(status_code=204)
    secure = gateway_state(request).settings.environment != "local"
    response.headers.append("set-cookie", clear_cookie_header(secure=secure))
    return response


async def me(request: Request) -> JSONResponse:
    principal = gateway_state(request).codec.verify(_token(request))
    return JSONResponse({"subject": principal.subject, "roles": sorted(principal.roles)})


async def console_config(request: Request) -> JSONResponse:
    own = gateway_state(request).gateway_settings
    return JSONResponse(
        {
            "tile_url": own.map_tile_url,
            "tile_attribution": own.map_tile_attribution,
            "timezone": gateway_state(request).settings.timezone,
        }
    )


def codes_list(raw: str | None, enum_prefix: str) -> list[str]:
    """Comma-separated city codes (the enum spelling ``CATEGORY_FLOOD`` of older consoles is read as
    ``FLOOD``); the service checks them against the city's registry (400 naming the known codes)."""
    return [c.strip().removeprefix(enum_prefix) for c in (raw or "").split(",") if c.strip()][:50]


async def list_incidents(request: Request) -> JSONResponse:
    q = request.query_params
    req = incidents_pb2.ListIncidentsRequest(
        statuses=parse_enum_list(incidents_pb2.Status, "STATUS_", q.get("status"), "status"),
        category_codes=codes_list(q.get("category"), "CATEGORY_"),
        priorities=parse_enum_list(incidents_pb2.Priority, "PRIORITY_", q.get("priority"), "priority"),
        agency_codes=codes_list(q.get("agency"), "AGENCY_"),
        ward_codes=codes_list(q.get("ward"), ""),
        text=q.get("text", "")[:200],
        page_size=parse_int(q.get("page_size"), "page_size", default=200, low=1, high=500),
        page_token=q.get("page_token", "")[:512],
    )
    resp = await upstream(request, lambda c: c.incidents.ListIncidents, req)
    return JSONResponse(
        {"incidents": [to_json(i) for i in resp.incidents], "next_page_token": resp.next_page_token}
    )


async def get_incident(request: Request) -> JSONResponse:
    req = incidents_pb2.GetIncidentRequest(id=request.path_params["incident_id"])
    return await relay(request, lambda c: c.incidents.GetIncident, req)


async def transition_incident(request: Request) -> JSONResponse:
    body = await json_body(request)
    to_status = parse_enum(
        incidents_pb2.Status, "STATUS_", text_field(body, "to_status", max_len=40, required=True), "to_status"
    )
    req = incidents_pb2.TransitionIncidentRequest(
        id=request.path_params["incident_id"],
        to_status=to_status,
        reason=text_field(body, "reason", max_len=1000),
        expected_version=expected_version(body),
        duplicate_of=text_field(body, "duplicate_of", max_len=64),
        idempotency_key=text_field(body, "idempotency_key", max_len=128),  # the outbox's, made when taken
    )
    return await relay(request, lambda c: c.incidents.TransitionIncident, req)


async def add_note(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = incidents_pb2.AddNoteRequest(
        id=request.path_params["incident_id"], text=text_field(body, "text", max_len=4000, required=True),
        idempotency_key=text_field(body, "idempotency_key", max_len=128),  # the outbox's, made when taken
    )
    return await relay(request, lambda c: c.incidents.AddNote, req)


async def timeline(request: Request) -> JSONResponse:
    req = incidents_pb2.GetTimelineRequest(id=request.path_params["incident_id"])
    return await relay(request, lambda c: c.incidents.GetTimeline, req)


async def recommendations(request: Request) -> JSONResponse:
    req = dispatch_pb2.RecommendUnitsRequest(
        incident_id=request.path_params["incident_id"],
        limit=parse_int(request.query_params.get("limit"), "limit", default=5, low=1, high=50),
    )
    return await relay(request, lambda c: c.dispatch.RecommendUnits, req)


async def assign_unit(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = dispatch_pb2.AssignUnitRequest(
        incident_id=request.path_params["incident_id"],
        unit_id=text_field(body, "unit_id", max_len=64, required=True),
        reason=text_field(body, "reason", max_len=1000),
        capability=text_field(body, "capability", max_len=64),
    )
    return await relay(request, lambda c: c.dispatch.AssignUnit, req)


async def list_assignments(request: Request) -> JSONResponse:
    req = dispatch_pb2.ListAssignmentsRequest(incident_id=request.path_params["incident_id"])
    return await relay(request, lambda c: c.dispatch.ListAssignments, req)


async def list_units(request: Request) -> JSONResponse:
    q = request.query_params
    req = dispatch_pb2.ListUnitsRequest(
        agency_codes=codes_list(q.get("agency"), "AGENCY_"),
        statuses=parse_enum_list(dispatch_pb2.UnitStatus, "UNIT_STATUS_", q.get("status"), "status"),
        page_size=parse_int(q.get("page_size"), "page_size", default=1000, low=1, high=1000),
    )
    resp = await upstream(request, lambda c: c.dispatch.ListUnits, req)
    return JSONResponse({"units": [to_json(u) for u in resp.units], "next_page_token": resp.next_page_token})


async def list_sensors(request: Request) -> JSONResponse:
    q = request.query_params
    req = sensors_pb2.ListSensorsRequest(
        statuses=parse_enum_list(sensors_pb2.SensorStatus, "SENSOR_STATUS_", q.get("status"), "status"),
        kinds=parse_enum_list(sensors_pb2.SensorKind, "SENSOR_KIND_", q.get("kind"), "kind"),
        page_size=parse_int(q.get("page_size"), "page_size", default=1000, low=1, high=1000),
    )
    resp = await upstream(request, lambda c: c.sensors.ListSensors, req)
    return JSONResponse({"sensors": [to_json(s) for s in resp.sensors], "next_page_token": resp.next_page_token})


async def list_alerts(request: Request) -> JSONResponse:
    req = sensors_pb2.ListSensorAlertsRequest(
        active_only=request.query_params.get("active_only", "true").lower() != "false",
        page_size=parse_int(request.query_params.get("page_size"), "page_size", default=200, low=1, high=1000),
    )
    resp = await upstream(request, lambda c: c.sensors.ListSensorAlerts, req)
    return JSONResponse({"alerts": [to_json(a) for a in resp.alerts], "next_page_token": resp.next_page_token})


async def kpis(request: Request) -> JSONResponse:
    state = gateway_state(request)
    token = _token(request)
    roles = state.codec.verify(token).roles
    if not roles & CONSOLE_ROLES:
        raise ApiError(403, "permission_denied", "vai trò này không xem được KPI (this role may not read KPIs)")
    # One cache entry per set of console roles: figures computed with one role's rights never reach another.
    cache_key = "kpis:" + ",".join(sorted(roles))
    cached = state.kpi_cache.get(cache_key)
    if cached is not None and time.monotonic() - cached[0] < state.gateway_settings.kpi_cache_seconds:
        return JSONResponse(cached[1])
    result: dict[str, Any] = await compute_kpis(state.clients, token, timezone=state.settings.timezone)
    state.kpi_cache[cache_key] = (time.monotonic(), result)
    return JSONResponse(result)


ROUTES = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/config", console_config),
    Route("/api/incidents", list_incidents),
    Route("/api/incidents/{incident_id}", get_incident),
    Route("/api/incidents/{incident_id}/transition", transition_incident, methods=["POST"]),
    Route("/api/incidents/{incident_id}/notes", add_note, methods=["POST"]),
    Route("/api/incidents/{incident_id}/timeline", timeline),
    Route("/api/incidents/{incident_id}/recommendations", recommendations),
    Route("/api/incidents/{incident_id}/assignments", list_assignments),
    Route("/api/incidents/{incident_id}/assignments", assign_unit, methods=["POST"]),
    Route("/api/units", list_units),
    Route("/api/sensors", list_sensors),
    Route("/api/sensors/alerts", list_alerts),
    Route("/api/kpis", kpis),
]
