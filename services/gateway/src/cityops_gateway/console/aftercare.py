"""The console's JSON API for undoing a merge, reopening and satisfaction (a thin proxy, like api.py).

- ``GET  /api/incidents/{id}/reports``: the reports fused into an incident (ListReports).
- ``POST /api/incidents/{id}/split``  ``{report_id, reason, expected_version}`` (SplitReport).
- ``POST /api/incidents/{id}/reopen`` ``{reason, expected_version}`` (ReopenIncident).
- ``GET  /api/satisfaction?since=&until=`` (ISO 8601): ratings per agency and category (GetSatisfactionReport).

The operator's JWT is forwarded; incidents decides every permission.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.console.api import relay
from cityops_gateway.web import expected_version, invalid, json_body, text_field


async def list_reports(request: Request) -> JSONResponse:
    req = incidents_pb2.ListReportsRequest(incident_id=request.path_params["incident_id"])
    return await relay(request, lambda c: c.incidents.ListReports, req)


async def split_report(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = incidents_pb2.SplitReportRequest(
        incident_id=request.path_params["incident_id"],
        report_id=text_field(body, "report_id", max_len=64, required=True),
        reason=text_field(body, "reason", max_len=1000, required=True),
        expected_version=expected_version(body),
    )
    return await relay(request, lambda c: c.incidents.SplitReport, req)


async def reopen_incident(request: Request) -> JSONResponse:
    body = await json_body(request)
    req = incidents_pb2.ReopenIncidentRequest(
        id=request.path_params["incident_id"],
        reason=text_field(body, "reason", max_len=1000, required=True),
        expected_version=expected_version(body),
    )
    return await relay(request, lambda c: c.incidents.ReopenIncident, req)


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(name, "thời điểm ISO 8601 không hợp lệ (invalid ISO 8601 time)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def satisfaction(request: Request) -> JSONResponse:
    req = incidents_pb2.GetSatisfactionReportRequest()
    for name in ("since", "until"):
        value = _time(request, name)
        if value is not None:
            getattr(req, name).FromDatetime(value.astimezone(UTC))
    return await relay(request, lambda c: c.incidents.GetSatisfactionReport, req)


ROUTES = [
    Route("/api/incidents/{incident_id}/reports", list_reports),
    Route("/api/incidents/{incident_id}/split", split_report, methods=["POST"]),
    Route("/api/incidents/{incident_id}/reopen", reopen_incident, methods=["POST"]),
    Route("/api/satisfaction", satisfaction),
]
