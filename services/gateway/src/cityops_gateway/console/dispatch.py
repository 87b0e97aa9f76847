"""The dispatcher's screen: recommended units with ETA, the incident's run card, accept or override.

- ``GET /api/incidents/{id}/dispatch-plan``: RecommendUnits (unit, distance, ETA, the capability that
  makes it fit) and the run card of the city's rules (which unit kinds, how many) next to what is
  assigned (ListAssignments) and what is still missing.
- ``POST /api/incidents/{id}/dispatch {unit_id, recommended_unit_id, override_reason, capability,
  idempotency_key}``: AssignUnit. Taking the top recommendation is one click; choosing another unit
  is an override and needs a reason, which dispatch keeps on the assignment (and the incident's
  timeline) with the dispatcher.

  The console's offline outbox makes ``idempotency_key`` when the action is taken; it goes to
  AssignUnit, where dispatch applies a key once per caller (a replay answers with the assignment the
  first call made, as it is now) for CITYOPS_DISPATCH_REQUEST_KEY_RETENTION_DAYS.

Only dispatchers and supervisors (and admins) use these routes: the gateway refuses other roles
with 403 before any upstream call, and dispatch checks the same roles again (its access policy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cityops.dispatch.v1 import dispatch_pb2
from cityops_gateway.console.api import _token
from cityops_gateway.events.decode import to_json
from cityops_gateway.state import gateway_state
from cityops_gateway.web import ApiError, invalid, json_body, parse_int, text_field

DISPATCH_ROLES = frozenset({"dispatcher", "supervisor", "admin"})
ACCEPTED = "chấp nhận đề xuất (recommendation accepted)"
# Assignments that count as sent for the run card: active ones and those that finished normally.
SENT = frozenset({
    "ASSIGNMENT_STATUS_ASSIGNED", "ASSIGNMENT_STATUS_ACKNOWLEDGED", "ASSIGNMENT_STATUS_EN_ROUTE",
    "ASSIGNMENT_STATUS_ON_SCENE", "ASSIGNMENT_STATUS_CLEARED",
})


def _dispatcher_token(request: Request) -> str:
    """The caller's token when it holds a dispatching role; 403 otherwise (dispatch checks again)."""
    token = _token(request)
    if not gateway_state(request).codec.verify(token).roles & DISPATCH_ROLES:
        raise ApiError(403, "permission_denied",
                       "chỉ điều phối viên và trưởng ca được điều động (only dispatchers and supervisors dispatch)")
    return token


def run_card_progress(card: dict[str, Any], assignments: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per slot of the card: how many units it asks for, which are sent (call signs) and how many
    are still missing; sent units that fill no slot of the card are listed apart as ``extra``."""
    sent = [a for a in assignments if a.get("status") in SENT]
    slots = []
    for slot in card.get("units", []):
        capability, count = slot["capability"], int(slot.get("count") or 1)
        taken = [a for a in sent if a.get("capability") == capability][:count]
        sent = [a for a in sent if a not in taken]
        slots.append({"capability": capability, "count": count,
                      "assigned": [a.get("call_sign") or a.get("unit_id") for a in taken],
                      "missing": count - len(taken)})
    return {"name": card.get("name", ""), "units": slots,
            "missing": sum(s["missing"] for s in slots),
            "extra": [{"capability": a.get("capability", ""), "call_sign": a.get("call_sign") or a.get("unit_id")}
                      for a in sent]}


async def dispatch_plan(request: Request) -> JSONResponse:
    state = gateway_state(request)
    token = _dispatcher_token(request)
    incident_id = request.path_params["incident_id"]
    limit = parse_int(request.query_params.get("limit"), "limit", default=5, low=1, high=50)
    recommended, listed = await asyncio.gather(
        state.clients.call(state.clients.dispatch.RecommendUnits,
                           dispatch_pb2.RecommendUnitsRequest(incident_id=incident_id, limit=limit), token=token),
        state.clients.call(state.clients.dispatch.ListAssignments,
                           dispatch_pb2.ListAssignmentsRequest(incident_id=incident_id), token=token),
    )
    assignments = [to_json(a) for a in listed.assignments]
    return JSONResponse({
        "candidates": [to_json(c) for c in recommended.candidates],
        "required_capabilities": list(recommended.required_capabilities),
        "run_card": run_card_progress(to_json(recommended.run_card), assignments),
        "assignments": assignments,
    })


async def dispatch_unit(request: Request) -> JSONResponse:
    state = gateway_state(request)
    token = _dispatcher_token(request)
    body = await json_body(request)
    incident_id = request.path_params["incident_id"]
    key = text_field(body, "idempotency_key", max_len=128)  # the outbox's, made when the action was taken
    unit_id = text_field(body, "unit_id", max_len=64, required=True)
    recommended = text_field(body, "recommended_unit_id", max_len=64)
    reason = text_field(body, "override_reason", max_len=1000).strip()
    if recommended and recommended != unit_id and not reason:
        raise invalid("override_reason", "chọn đơn vị khác đề xuất cần lý do (an override needs a reason)")
    req = dispatch_pb2.AssignUnitRequest(
        incident_id=incident_id, unit_id=unit_id,
        capability=text_field(body, "capability", max_len=64),
        recommended_unit_id=recommended, override_reason=reason,
        reason=reason or (ACCEPTED if recommended == unit_id else ""),
        idempotency_key=key,
    )
    assignment = await state.clients.call(state.clients.dispatch.AssignUnit, req, token=token)
    return JSONResponse(to_json(assignment))


ROUTES = [
    Route("/api/incidents/{incident_id}/dispatch-plan", dispatch_plan),
    Route("/api/incidents/{incident_id}/dispatch", dispatch_unit, methods=["POST"]),
]
