"""The call-taker's intake on the console: file a call, find where it is, see what is already open
near it and what the caller reported before, and attach the call to an incident in one click.

- ``GET /api/gazetteer?q=``: address suggestions from the city's gazetteer (diacritics optional).
- ``GET /api/incidents/nearby?lat=&lon=&category=&text=``: open incidents near the point
  (IncidentService.FindNearbyIncidents), ranked here by distance, time, category and text.
- ``POST /api/callers/lookup {phone}``: the caller's earlier reports. The phone goes in the body (never
  a URL or a log) to IncidentService.FindCallerReports, which normalises it and looks up its keyed
  hash (the key is the incidents service's alone); it comes back masked ("09xx xxx 678").
- ``POST /api/incidents {...}``: ReportIncident from the hotline, as the signed-in call-taker;
  ``attach_to_incident_id`` merges the call into the incident the call-taker chose.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.console.api import _token
from cityops_gateway.events.decode import to_json
from cityops_gateway.state import gateway_state
from cityops_gateway.web import invalid, json_body, parse_enum, text_field

NEARBY_RADIUS_M = 1000.0
NEARBY_LIMIT = 50
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without diacritics (đ → d): for matching only, never for display."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(fold(text)) if len(w) > 1}


@dataclass(frozen=True)
class Ranked:
    score: float
    distance_m: float
    reasons: tuple[str, ...]


def rank_nearby(
    *, distance_m: float, radius_m: float, age_s: float, same_category: bool, text: str, other_text: str
) -> Ranked:
    """How likely an open incident is the one the caller is describing, 0..1.

    Distance (0.4: linear to the search radius), time (0.2: halves every 2 hours since it was
    reported), category (0.2: the same one) and text (0.2: shared words over the caller's words,
    diacritics ignored). The reasons say which counted, for the call-taker to judge."""
    d = max(0.0, 1.0 - distance_m / radius_m) if radius_m > 0 else 0.0
    recency = math.pow(0.5, max(age_s, 0.0) / 7200.0)
    mine, theirs = _words(text), _words(other_text)
    similarity = len(mine & theirs) / len(mine) if mine else 0.0
    score = 0.4 * d + 0.2 * recency + (0.2 if same_category else 0.0) + 0.2 * similarity
    reasons = [f"{distance_m:.0f} m"]
    if same_category:
        reasons.append("cùng loại (same category)")
    if similarity >= 0.3:
        reasons.append(f"mô tả giống {similarity:.0%} (similar text)")
    return Ranked(round(score, 3), distance_m, tuple(reasons))


def _float(raw: str | None, name: str, low: float, high: float) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        raise invalid(name, "phải là số (must be a number)") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise invalid(name, f"phải trong khoảng {low}..{high} (out of range)")
    return value


def _age_seconds(iso: str) -> float:
    try:
        return max(0.0, time.time() - datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0.0


async def nearby(request: Request) -> JSONResponse:
    """Open incidents within ``radius_m`` (default 1 km) of the call, best match first."""
    q = request.query_params
    lat = _float(q.get("lat"), "lat", -90, 90)
    lon = _float(q.get("lon"), "lon", -180, 180)
    radius = _float(q.get("radius_m") or str(NEARBY_RADIUS_M), "radius_m", 1, 5000)
    category = parse_enum(incidents_pb2.Category, "CATEGORY_", q["category"], "category") if q.get("category") else 0
    text = q.get("text", "")[:1000]
    state = gateway_state(request)
    req = incidents_pb2.FindNearbyIncidentsRequest(
        location=common_pb2.GeoPoint(lat=lat, lon=lon), radius_m=radius, limit=NEARBY_LIMIT
    )
    resp = await state.clients.call(state.clients.incidents.FindNearbyIncidents, req, token=_token(request))
    out = []
    for hit in resp.incidents:
        incident = to_json(hit.incident)
        ranked = rank_nearby(
            distance_m=hit.distance_m, radius_m=radius, age_s=_age_seconds(incident.get("created_at", "")),
            same_category=bool(category) and hit.incident.category == category,
            text=text, other_text=f"{hit.incident.description} {hit.incident.subcategory}",
        )
        out.append({"incident": incident, "distance_m": hit.distance_m, "score": ranked.score,
                    "reasons": list(ranked.reasons)})
    out.sort(key=lambda h: (-h["score"], h["distance_m"]))
    return JSONResponse({"incidents": out, "radius_m": radius})


async def caller_lookup(request: Request) -> JSONResponse:
    """The caller's earlier reports; the body carries the phone (never the URL), the incidents
    service hashes it."""
    body = await json_body(request)
    phone = text_field(body, "phone", max_len=32, required=True)
    state = gateway_state(request)
    req = incidents_pb2.FindCallerReportsRequest(phone=phone, limit=20)
    resp = await state.clients.call(state.clients.incidents.FindCallerReports, req, token=_token(request))
    return JSONResponse({"reports": [to_json(r) for r in resp.reports]})


def _place(p: Any) -> dict[str, Any]:
    return {"id": p.id, "label": p.label, "lat": p.lat, "lon": p.lon, "precision": p.precision}


async def gazetteer(request: Request) -> JSONResponse:
    """Address suggestions: the gazetteer's own geocode first, then names containing every word."""
    _token(request)
    g = gateway_state(request).gazetteer
    text = request.query_params.get("q", "")[:200].strip()
    if g is None or len(text) < 2:
        return JSONResponse({"places": []})
    places: dict[str, Any] = {}
    best = g.geocode(text)
    if best is not None:
        places[best.id] = best
    words = fold(text).split()
    for place in [*g.streets.values(), *g.units.values()]:
        if len(places) >= 10:
            break
        if all(w in fold(place.label) for w in words):
            places.setdefault(place.id, place)
    return JSONResponse({"places": [_place(p) for p in places.values()]})


async def report(request: Request) -> JSONResponse:
    """A hotline call filed by the signed-in call-taker (source HOTLINE_1022)."""
    body = await json_body(request)
    state = gateway_state(request)
    raw_location = body.get("location")
    location: dict[str, Any] = raw_location if isinstance(raw_location, dict) else {}
    lat = _float(str(location.get("lat", "")), "location.lat", -90, 90)
    lon = _float(str(location.get("lon", "")), "location.lon", -180, 180)
    req = incidents_pb2.ReportIncidentRequest(
        category=parse_enum(incidents_pb2.Category, "CATEGORY_",
                            text_field(body, "category", max_len=40, required=True), "category"),
        subcategory=text_field(body, "subcategory", max_len=64),
        description=text_field(body, "description", max_len=4000),
        location=common_pb2.GeoPoint(lat=lat, lon=lon, address=text_field(location, "address", max_len=300)),
        source=incidents_pb2.SOURCE_HOTLINE_1022,
        reporter=incidents_pb2.Reporter(name=text_field(body, "caller_name", max_len=200),
                                        phone=text_field(body, "caller_phone", max_len=32)),
        idempotency_key=text_field(body, "idempotency_key", max_len=128, required=True),
        attach_to_incident_id=text_field(body, "attach_to_incident_id", max_len=64),
    )
    resp = await state.clients.call(state.clients.incidents.ReportIncident, req, token=_token(request))
    return JSONResponse({"incident": to_json(resp.incident), "merged": resp.merged, "report_id": resp.report_id})


ROUTES = [
    Route("/api/gazetteer", gazetteer),
    Route("/api/incidents/nearby", nearby),
    Route("/api/callers/lookup", caller_lookup, methods=["POST"]),
    Route("/api/incidents", report, methods=["POST"]),
]
