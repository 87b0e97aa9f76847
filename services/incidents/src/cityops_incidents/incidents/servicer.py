"""The incident RPCs of IncidentService: proto ↔ domain only. Rules live in service.py; errors are
domain types that the platform interceptor maps to status codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import grpc

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents import unit_assignments
from cityops_incidents.incidents.convert import (
    agency_codes,
    category_code,
    category_codes,
    category_name,
    from_ts,
    incident_pb,
    source_name,
    status_name,
    timeline_entry_pb,
)
from cityops_incidents.incidents.models import (
    STATUSES,
    Actor,
    ListQuery,
    ReopenIn,
    ReportIn,
    SplitIn,
    TransitionIn,
)
from cityops_incidents.incidents.service import IncidentService
from cityops_incidents.incidents.watch import IncidentWatch
from cityops_incidents.ratings.convert import caller_report_pb, report_summary_pb
from cityops_platform import auth
from cityops_platform.errors import FieldViolation, ValidationFailed, require
from cityops_platform.geo.admin_units import admin_units, ward_violation_text

Ctx: TypeAlias = grpc.aio.ServicerContext


def current_actor() -> tuple[Actor, frozenset[str]]:
    principal = auth.current_principal()
    return Actor(principal.subject, principal.primary_role or "system"), principal.roles


def _enum_list(
    path: str, values: Any, convert: Any, known: frozenset[str], out: list[FieldViolation]
) -> tuple[str, ...]:
    names = []
    for i, value in enumerate(values):
        name = convert(value)
        if name not in known:
            out.append(FieldViolation(f"{path}[{i}]", f"giá trị không hợp lệ: {value} (unknown value)"))
        names.append(name)
    return tuple(names)


class IncidentsRpc:
    """The incident RPCs (a part of ``servicer.IncidentServicer``, which holds the dependencies)."""

    _service: IncidentService
    _watch: IncidentWatch
    _eido: dict[int, int]  # the rules' priority → EIDO priority map

    async def ReportIncident(  # noqa: N802
        self, request: pb.ReportIncidentRequest, context: Ctx
    ) -> pb.ReportIncidentResponse:
        actor, roles = current_actor()
        try:
            category = category_code(request.category_code, request.category)
        except ValidationFailed:  # reported with the other bad fields by validate_report
            category = request.category_code or category_name(request.category)
        r = ReportIn(
            category=category, source=source_name(request.source),
            lat=request.location.lat, lon=request.location.lon, address=request.location.address,
            has_location=request.HasField("location"), idempotency_key=request.idempotency_key,
            subcategory=request.subcategory, description=request.description,
            reporter_name=request.reporter.name, reporter_phone=request.reporter.phone,
            occurred_at=from_ts(request.occurred_at, "occurred_at") if request.HasField("occurred_at") else None,
            external_ids=dict(request.external_ids), priority_override=int(request.priority_override),
            attach_to=request.attach_to_incident_id,
        )
        outcome = await self._service.report(r, actor=actor, roles=roles)
        incident = incident_pb(outcome.incident, self._eido)
        if outcome.merged and roles and roles <= {"citizen"}:
            # A citizen whose report joined someone else's incident learns that it exists and where it
            # stands, not what others wrote (description, external ids, place): number and status only.
            incident = pb.Incident(id=incident.id, number=incident.number, status=incident.status,
                                   category=incident.category, report_count=incident.report_count)
        return pb.ReportIncidentResponse(incident=incident, merged=outcome.merged, report_id=outcome.report_id)

    async def GetIncident(self, request: pb.GetIncidentRequest, context: Ctx) -> pb.Incident:  # noqa: N802
        inc = await self._service.get(request.id, request.number)
        return incident_pb(inc, self._eido)

    async def ListIncidents(  # noqa: N802
        self, request: pb.ListIncidentsRequest, context: Ctx
    ) -> pb.ListIncidentsResponse:
        out: list[FieldViolation] = []
        statuses = _enum_list("statuses", request.statuses, status_name, STATUSES, out)
        categories = category_codes(request.category_codes, request.categories, out)
        agencies = agency_codes(request.agency_codes, request.agencies, out)
        for i, p in enumerate(request.priorities):
            if p not in (1, 2, 3, 4):
                out.append(FieldViolation(f"priorities[{i}]", f"giá trị không hợp lệ: {p} (unknown value)"))
        for i, code in enumerate(request.ward_codes):
            if admin_units().get(code) is None:
                out.append(FieldViolation(f"ward_codes[{i}]", ward_violation_text()))
        require(out)
        q = ListQuery(
            statuses=statuses, categories=categories, agencies=agencies,
            priorities=tuple(int(p) for p in request.priorities), text=request.text, district=request.district,
            ward_codes=tuple(request.ward_codes),
            created_after=(
                from_ts(request.created_after, "created_after") if request.HasField("created_after") else None
            ),
            created_before=(
                from_ts(request.created_before, "created_before") if request.HasField("created_before") else None
            ),
            page_size=request.page_size, page_token=request.page_token,
        )
        incidents, token = await self._service.list_incidents(q)
        return pb.ListIncidentsResponse(incidents=[incident_pb(i, self._eido) for i in incidents],
                                        next_page_token=token)

    async def TransitionIncident(  # noqa: N802
        self, request: pb.TransitionIncidentRequest, context: Ctx
    ) -> pb.Incident:
        actor, _ = current_actor()
        t = TransitionIn(incident_id=request.id, to_status=status_name(request.to_status), reason=request.reason,
                         expected_version=request.expected_version, duplicate_of=request.duplicate_of,
                         idempotency_key=request.idempotency_key)
        return incident_pb(await self._service.transition(t, actor=actor), self._eido)

    async def AddNote(self, request: pb.AddNoteRequest, context: Ctx) -> pb.Incident:  # noqa: N802
        actor, roles = current_actor()
        principal = auth.current_principal()
        unit_id = unit_assignments.bound_unit(principal)
        # An external CAD (integrator without a staff role) notes only what it reported.
        filer_only = unit_id is None and "integrator" in roles and not principal.has_any(auth.STAFF)
        incident = await self._service.add_note(request.id, request.text, actor=actor, unit_id=unit_id,
                                                filer_only=filer_only, idempotency_key=request.idempotency_key)
        return incident_pb(incident, self._eido)

    async def GetTimeline(self, request: pb.GetTimelineRequest, context: Ctx) -> pb.Timeline:  # noqa: N802
        entries = await self._service.timeline(request.id)
        return pb.Timeline(incident_id=request.id, entries=[timeline_entry_pb(e) for e in entries])

    async def FindNearbyIncidents(  # noqa: N802
        self, request: pb.FindNearbyIncidentsRequest, context: Ctx
    ) -> pb.FindNearbyIncidentsResponse:
        out: list[FieldViolation] = []
        categories = category_codes(request.category_codes, request.categories, out)
        require(out)
        hits = await self._service.nearby(
            lat=request.location.lat, lon=request.location.lon, has_location=request.HasField("location"),
            radius_m=request.radius_m, categories=list(categories), limit=request.limit,
        )
        return pb.FindNearbyIncidentsResponse(
            incidents=[pb.NearbyIncident(incident=incident_pb(i, self._eido), distance_m=round(d, 1)) for i, d in hits]
        )

    async def WatchIncidents(  # noqa: N802
        self, request: pb.WatchIncidentsRequest, context: Ctx
    ) -> AsyncIterator[pb.IncidentEvent]:
        out: list[FieldViolation] = []
        categories = category_codes(request.category_codes, request.categories, out)
        agencies = agency_codes(request.agency_codes, request.agencies, out)
        for i, p in enumerate(request.priorities):
            if p not in (1, 2, 3, 4):
                out.append(FieldViolation(f"priorities[{i}]", f"giá trị không hợp lệ: {p} (unknown value)"))
        require(out)
        cat_values = set(categories)
        agency_values = set(agencies)
        priorities = {int(p) for p in request.priorities}

        def wanted(event: pb.IncidentEvent) -> bool:
            inc = event.incident
            return ((not cat_values or inc.category_code in cat_values)
                    and (not priorities or inc.priority in priorities)
                    and (not agency_values or inc.agency_code in agency_values)
                    and (not request.incident_id or event.incident_id == request.incident_id))

        async for event in self._watch.events(ready=lambda: context.send_initial_metadata(())):
            if wanted(event):
                yield event


    async def SplitReport(  # noqa: N802
        self, request: pb.SplitReportRequest, context: Ctx
    ) -> pb.SplitReportResponse:
        actor, _ = current_actor()
        s = SplitIn(incident_id=request.incident_id, report_id=request.report_id, reason=request.reason,
                    expected_version=request.expected_version)
        source, split = await self._service.split(s, actor=actor)
        return pb.SplitReportResponse(source=incident_pb(source, self._eido), split=incident_pb(split, self._eido))

    async def ReopenIncident(self, request: pb.ReopenIncidentRequest, context: Ctx) -> pb.Incident:  # noqa: N802
        actor, roles = current_actor()
        o = ReopenIn(incident_id=request.id, reason=request.reason, expected_version=request.expected_version)
        return incident_pb(await self._service.reopen(o, actor=actor, roles=roles), self._eido)

    async def ListReports(  # noqa: N802
        self, request: pb.ListReportsRequest, context: Ctx
    ) -> pb.ListReportsResponse:
        reports = await self._service.reports(request.incident_id)
        return pb.ListReportsResponse(reports=[report_summary_pb(r) for r in reports])

    async def FindCallerReports(  # noqa: N802
        self, request: pb.FindCallerReportsRequest, context: Ctx
    ) -> pb.FindCallerReportsResponse:
        found = await self._service.caller_reports(request.phone, request.limit)
        return pb.FindCallerReportsResponse(reports=[caller_report_pb(c) for c in found])
