"""CAP 1.2 public warnings from the console: a supervisor drafts, a second supervisor approves
(the notifications service refuses the author's own approval), then update or cancel; both are
new messages that need approval again. A thin proxy to NotificationService's CAP workflow.

- ``GET /api/alerts?state=``: ListAlerts (newest first).
- ``POST /api/alerts``: DraftAlert from a short form (Vietnamese text, optional English text, area).
- ``POST /api/alerts/{id}/approve``: ApproveAlert.
- ``POST /api/alerts/{id}/update``: UpdateAlert with a new form (a draft is replaced; a published
  alert gets an Update message waiting for approval).
- ``POST /api/alerts/{id}/cancel {reason}``: CancelAlert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cityops.common.v1 import common_pb2
from cityops.notifications.v1 import notifications_pb2 as npb
from cityops_gateway.console.api import relay, upstream
from cityops_gateway.events.decode import to_json
from cityops_gateway.state import gateway_state
from cityops_gateway.web import invalid, json_body, parse_enum, parse_enum_list, parse_float, text_field


def _infos(body: Mapping[str, Any], gazetteer: Any = None) -> list[Any]:
    """vi-VN first (required), en-US when its headline is given; one area for both. The area is the
    given circle, or a circle of ``radius_km`` (default 2) around the place the gazetteer finds for
    ``area_desc`` (CAP needs a polygon or a circle)."""
    category = parse_enum(npb.CapCategory, "CAP_CATEGORY_", text_field(body, "category", max_len=20) or "MET",
                          "category")
    urgency = parse_enum(npb.Urgency, "URGENCY_", text_field(body, "urgency", max_len=20) or "EXPECTED", "urgency")
    severity = parse_enum(npb.Severity, "SEVERITY_", text_field(body, "severity", max_len=20) or "SEVERE",
                          "severity")
    certainty = parse_enum(npb.Certainty, "CERTAINTY_", text_field(body, "certainty", max_len=20) or "LIKELY",
                           "certainty")
    area = npb.CapArea(area_desc=text_field(body, "area_desc", max_len=500, required=True))
    circle = body.get("circle")
    if isinstance(circle, dict):
        area.circle.CopyFrom(common_pb2.Circle(
            center=common_pb2.GeoPoint(lat=parse_float(circle.get("lat"), "circle.lat"),
                                       lon=parse_float(circle.get("lon"), "circle.lon")),
            radius_m=parse_float(circle.get("radius_m"), "circle.radius_m")))
    elif circle is not None:
        raise invalid("circle", "phải là đối tượng {lat, lon, radius_m} (must be an object)")
    else:
        place = gazetteer.geocode(area.area_desc) if gazetteer is not None else None
        if place is None:
            raise invalid("area_desc", "không tìm thấy khu vực trong danh bạ địa chỉ (area not found in the gazetteer)")
        radius_km = parse_float(body.get("radius_km", 2), "radius_km")
        if not 0.1 <= radius_km <= 100:
            raise invalid("radius_km", "phải trong khoảng 0,1..100 km (out of range)")
        area.circle.CopyFrom(common_pb2.Circle(center=common_pb2.GeoPoint(lat=place.lat, lon=place.lon),
                                               radius_m=radius_km * 1000))
    infos = []
    for lang, suffix, required in (("vi-VN", "", True), ("en-US", "_en", False)):
        headline = text_field(body, f"headline{suffix}", max_len=160, required=required)
        if not headline:
            continue
        infos.append(npb.CapInfo(
            language=lang, categories=[category], urgency=urgency, severity=severity, certainty=certainty,
            event=text_field(body, f"event{suffix}", max_len=200) or headline,
            headline=headline, description=text_field(body, f"description{suffix}", max_len=4000),
            instruction=text_field(body, f"instruction{suffix}", max_len=4000), area=area,
        ))
    return infos


async def list_alerts(request: Request) -> JSONResponse:
    req = npb.ListAlertsRequest(
        states=parse_enum_list(npb.CapAlertState, "CAP_ALERT_STATE_", request.query_params.get("state"), "state"),
        page_size=50,
    )
    resp = await upstream(request, lambda c: c.notifications.ListAlerts, req)
    return JSONResponse({"alerts": [to_json(a) for a in resp.alerts]})


async def draft_alert(request: Request) -> JSONResponse:
    body = await json_body(request)
    alert = npb.CapAlert(status=npb.CAP_STATUS_ACTUAL, scope=npb.CAP_SCOPE_PUBLIC,
                         infos=_infos(body, gateway_state(request).gazetteer),
                         incident_id=text_field(body, "incident_id", max_len=64))
    return await relay(request, lambda c: c.notifications.DraftAlert, npb.DraftAlertRequest(alert=alert))


async def approve_alert(request: Request) -> JSONResponse:
    req = npb.ApproveAlertRequest(alert_id=request.path_params["alert_id"])
    return await relay(request, lambda c: c.notifications.ApproveAlert, req)


async def update_alert(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = npb.UpdateAlertRequest(alert_id=request.path_params["alert_id"],
                                 infos=_infos(body, gateway_state(request).gazetteer),
                                 note=text_field(body, "note", max_len=1000))
    return await relay(request, lambda c: c.notifications.UpdateAlert, req)


async def cancel_alert(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = npb.CancelAlertRequest(alert_id=request.path_params["alert_id"],
                                 reason=text_field(body, "reason", max_len=1000, required=True))
    return await relay(request, lambda c: c.notifications.CancelAlert, req)


ROUTES = [
    Route("/api/alerts", list_alerts),
    Route("/api/alerts", draft_alert, methods=["POST"]),
    Route("/api/alerts/{alert_id}/approve", approve_alert, methods=["POST"]),
    Route("/api/alerts/{alert_id}/update", update_alert, methods=["POST"]),
    Route("/api/alerts/{alert_id}/cancel", cancel_alert, methods=["POST"]),
]
