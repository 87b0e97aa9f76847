"""OGC SensorThings API v1.1, read only, at ``/sta/v1.1/``: Things, Locations, Datastreams,
Sensors, ObservedProperties and Observations of the city's sensors, with ``$top``, ``$skip``,
``$count``, ``$orderby`` and (on Observations) ``$filter`` on phenomenonTime/resultTime/result.

Public, no login: the data is what the sensors service shows any reader (the gateway calls it
with its own token). Observations are the sensors service's 1-minute aggregates (GetSeries, at
most 7 days per request); a request without a time filter gets the last 24 hours of one
Datastream, or the last hour across every Datastream at ``/Observations``.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cityops.sensors.v1 import sensors_pb2 as spb
from cityops_gateway.clients import UpstreamError
from cityops_gateway.sensorkinds import KINDS
from cityops_gateway.sta import entities as ent
from cityops_gateway.sta.query import Options, QueryError, matches, parse_options, time_bounds
from cityops_gateway.state import GatewayState, gateway_state
from cityops_platform.codecs import to_timestamp

PREFIX = "/sta/v1.1"
MAX_SPAN = timedelta(days=7)
ENTITY_SETS = ("Things", "Locations", "Datastreams", "Sensors", "ObservedProperties", "Observations")
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/core",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<key>'(?:[^']|'')*'|[^()']+)\))?$")


class StaError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.status, "type": "error", "message": self.message}, status_code=self.status)


def _base(state: GatewayState, request: Request) -> str:
    return (state.gateway_settings.public_base_url or str(request.base_url)).rstrip("/") + PREFIX


def _token(state: GatewayState) -> str:
    return state.service_tokens.token("svc-gateway:public-data", "integrator")


async def sensors(state: GatewayState) -> list[spb.Sensor]:
    """Every sensor of a known kind, by id, cached for a few seconds."""
    cached = state.public_cache.get("sensors")
    if cached is not None and time.monotonic() - cached[0] < state.gateway_settings.public_cache_seconds:
        return cached[1]  # type: ignore[no-any-return]
    req = spb.ListSensorsRequest(page_size=1000)
    out: list[spb.Sensor] = []
    while True:
        page = await state.clients.call(state.clients.sensors.ListSensors, req, token=_token(state))
        out.extend(s for s in page.sensors if s.kind in KINDS)
        if not page.next_page_token or len(out) >= state.gateway_settings.sta_max_sensors:
            break
        req.page_token = page.next_page_token
    out.sort(key=lambda s: s.id)
    state.public_cache["sensors"] = (time.monotonic(), out)
    return out


_ts = to_timestamp


async def _series(state: GatewayState, sensor_id: str, start: datetime, end: datetime) -> list[spb.Aggregate]:
    req = spb.GetSeriesRequest(sensor_id=sensor_id, start=_ts(start), end=_ts(end))
    try:
        resp = await state.clients.call(state.clients.sensors.GetSeries, req, token=_token(state))
    except UpstreamError as exc:
        if exc.http_status == 404:
            raise StaError(404, f"không có Datastream này (no such Datastream): {sensor_id}") from None
        raise
    return list(resp.points)


def _window(opts: Options, default: timedelta) -> tuple[datetime, datetime]:
    low, high = time_bounds(opts.filter)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    end = min(high + timedelta(seconds=1), now) if high is not None else now
    start = low if low is not None else end - default
    if high is not None and low is None:
        start = end - default
    start = max(start, end - MAX_SPAN)
    return start, end


async def _observations(state: GatewayState, chosen: list[spb.Sensor], opts: Options, base: str,
                        default: timedelta) -> list[dict[str, Any]]:
    start, end = _window(opts, default)
    if start >= end:
        return []
    out: list[dict[str, Any]] = []
    for sensor in chosen:
        for point in await _series(state, sensor.id, start, end):
            obs = ent.observation(sensor.id, point, base)
            if opts.filter is None or matches(opts.filter, ent.observation_values(obs)):
                out.append(obs)
    return out


def _order(items: list[dict[str, Any]], opts: Options, default_key: str) -> list[dict[str, Any]]:
    keys = opts.orderby or [(default_key, False)]
    for name, desc in reversed(keys):
        items.sort(key=lambda e: (e.get(name) is None, e.get(name)), reverse=desc)
    return items


def _collection(request: Request, items: list[dict[str, Any]], opts: Options, default_key: str) -> JSONResponse:
    ordered = _order(items, opts, default_key)
    page = ordered[opts.skip:opts.skip + opts.top]
    body: dict[str, Any] = {}
    if opts.count:
        body["@iot.count"] = len(ordered)
    body["value"] = page
    if opts.skip + opts.top < len(ordered):
        params = dict(request.query_params)
        params["$skip"] = str(opts.skip + opts.top)
        params["$top"] = str(opts.top)
        state = gateway_state(request)
        base = (state.gateway_settings.public_base_url or str(request.base_url)).rstrip("/")
        body["@iot.nextLink"] = f"{base}{request.url.path}?{urlencode(params)}"
    return JSONResponse(body)


def _key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    return raw


def _segments(path: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in [p for p in path.split("/") if p]:
        m = _SEGMENT.match(part)
        if not m:
            raise StaError(404, f"đường dẫn không hợp lệ (invalid path segment): {part}")
        out.append((m.group("name"), _key(m.group("key"))))
    return out


def _find(chosen: list[spb.Sensor], ident: str, what: str) -> spb.Sensor:
    for sensor in chosen:
        if sensor.id == ident:
            return sensor
    raise StaError(404, f"không có {what} này (no such {what}): {ident}")


def _kind(ident: str, what: str) -> tuple[int, Any]:
    found = ent.kind_by_key(ident)
    if found is None:
        raise StaError(404, f"không có {what} này (no such {what}): {ident}")
    return found


ORDERABLE = {"Observations": ("phenomenonTime", "resultTime", "result", "@iot.id")}
BUILDERS = {"Things": ent.thing, "Locations": ent.location, "Datastreams": ent.datastream}


async def _resolve(request: Request, segments: list[tuple[str, str | None]]) -> Response:
    state = gateway_state(request)
    base = _base(state, request)
    (name, key), rest = segments[0], segments[1:]
    if name not in ENTITY_SETS:
        raise StaError(404, f"không có tập thực thể này (no such entity set): {name}")
    nav = rest[0][0] if rest else None
    if len(rest) > 1 or (rest and rest[0][1] is not None) or (rest and key is None):
        raise StaError(404, "chỉ hỗ trợ một bước điều hướng (one navigation step is supported)")
    collection_of = nav or (name if key is None else None)
    opts = parse_options(request.query_params, orderable=ORDERABLE.get(collection_of or "", ("@iot.id", "name")),
                         filterable=collection_of == "Observations") if collection_of else None
    all_sensors = await sensors(state)

    if name in BUILDERS:
        if key is None:
            assert opts is not None
            return _collection(request, [BUILDERS[name](s, base) for s in all_sensors], opts, "@iot.id")
        sensor = _find(all_sensors, key, name[:-1])
        if nav is None:
            return JSONResponse(BUILDERS[name](sensor, base))
        assert opts is not None
        related: dict[tuple[str, str], Any] = {
            ("Things", "Locations"): [ent.location(sensor, base)],
            ("Things", "Datastreams"): [ent.datastream(sensor, base)],
            ("Locations", "Things"): [ent.thing(sensor, base)],
            ("Datastreams", "Thing"): ent.thing(sensor, base),
            ("Datastreams", "Sensor"): ent.sta_sensor(KINDS[sensor.kind], base),
            ("Datastreams", "ObservedProperty"): ent.observed_property(KINDS[sensor.kind], base),
        }
        if (name, nav) == ("Datastreams", "Observations"):
            items = await _observations(state, [sensor], opts, base, timedelta(hours=24))
            return _collection(request, items, opts, "phenomenonTime")
        if (name, nav) not in related:
            raise StaError(404, f"{name} không có liên kết {nav} (no such navigation property)")
        value = related[(name, nav)]
        return _collection(request, value, opts, "@iot.id") if isinstance(value, list) else JSONResponse(value)

    if name in ("Sensors", "ObservedProperties"):
        build = ent.sta_sensor if name == "Sensors" else ent.observed_property
        kinds = sorted({s.kind for s in all_sensors})
        if key is None:
            assert opts is not None
            return _collection(request, [build(KINDS[k], base) for k in kinds], opts, "@iot.id")
        kind, info = _kind(key, name[:-1] if name == "Sensors" else "ObservedProperty")
        if nav is None:
            return JSONResponse(build(info, base))
        if nav != "Datastreams":
            raise StaError(404, f"{name} không có liên kết {nav} (no such navigation property)")
        assert opts is not None
        return _collection(request, [ent.datastream(s, base) for s in all_sensors if s.kind == kind], opts,
                           "@iot.id")

    # Observations
    if key is None:
        assert opts is not None
        items = await _observations(state, all_sensors, opts, base, timedelta(hours=1))
        return _collection(request, items, opts, "@iot.id")
    parsed = ent.parse_observation_id(key)
    if parsed is None:
        raise StaError(404, f"không có Observation này (no such Observation): {key}")
    sensor = _find(all_sensors, parsed[0], "Observation")
    if nav is not None and nav != "Datastream":
        raise StaError(404, f"Observations không có liên kết {nav} (no such navigation property)")
    if nav == "Datastream":
        return JSONResponse(ent.datastream(sensor, base))
    for point in await _series(state, sensor.id, parsed[1], parsed[1] + timedelta(seconds=1)):
        obs = ent.observation(sensor.id, point, base)
        if obs["@iot.id"] == key:
            return JSONResponse(obs)
    raise StaError(404, f"không có Observation này (no such Observation): {key}")


async def sta(request: Request) -> Response:
    path = request.path_params.get("path", "")
    try:
        segments = _segments(path)
        if not segments:
            state = gateway_state(request)
            base = _base(state, request)
            return JSONResponse({
                "value": [{"name": n, "url": f"{base}/{n}"} for n in ENTITY_SETS],
                "serverSettings": {"conformance": CONFORMANCE},
            })
        return await _resolve(request, segments)
    except StaError as exc:
        return exc.response()
    except QueryError as exc:
        return StaError(400, str(exc)).response()
    except UpstreamError as exc:
        status = 503 if exc.http_status >= 500 or exc.http_status in (401, 403) else 400
        return StaError(status, "dịch vụ cảm biến tạm thời không khả dụng (sensors service unavailable)"
                        if status == 503 else exc.message).response()


ROUTES = [
    Route(PREFIX, sta),
    Route(f"{PREFIX}/{{path:path}}", sta),
]
