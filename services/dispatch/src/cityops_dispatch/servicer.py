"""DispatchService over gRPC: proto ⇄ domain only; the rules live in the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops_dispatch import access, codes, db
from cityops_dispatch.assignments import store as assignments_store
from cityops_dispatch.assignments.models import Actor
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.rules import Rules
from cityops_dispatch.settings import DispatchSettings
from cityops_dispatch.convert import assignment_pb, ts, unit_pb
from cityops_dispatch.eido.service import EidoImporter
from cityops_dispatch.incidents_view import store as view_store
from cityops_dispatch.recommend.service import find_candidates
from cityops_dispatch.units import service as units_service
from cityops_dispatch.units import store as units_store
from cityops_dispatch.units.models import LocationFix, LocationSummary, UnitIn, UnitStatus
from cityops_platform import auth
from cityops_platform.codecs import decode_page_token, encode_page_token
from cityops_platform.errors import FieldViolation, NotFound, ValidationFailed, require
from cityops_platform.geo.admin_units import admin_units, ward_violation_text

MAX_ERRORS = 100


_actor = Actor.current


def _required(value: str, path: str) -> list[FieldViolation]:
    if not value.strip():
        return [FieldViolation(path, "bắt buộc (required)")]
    if len(value) > 128:
        return [FieldViolation(path, "tối đa 128 ký tự (at most 128 characters)")]
    return []


def _unit_status(value: int, path: str, *, allow_unspecified: bool) -> UnitStatus | None:
    if value == 0 and allow_unspecified:
        return None
    try:
        return UnitStatus(value)
    except ValueError:
        raise ValidationFailed([FieldViolation(path, "trạng thái không hợp lệ (unknown unit status)")]) from None


def _page(limit: int, *, default: int, maximum: int, path: str) -> int:
    if limit < 0 or limit > maximum:
        raise ValidationFailed([FieldViolation(path, f"phải trong [0, {maximum}] (must be within 0..{maximum})")])
    return limit or default


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(
        self, *, pool: asyncpg.Pool, settings: DispatchSettings, rules: Rules, importer: EidoImporter
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._rules = rules
        self._importer = importer
        self._dispatcher = AssignmentEngine(
            rules=rules, ack_timeout_s=settings.ack_timeout_seconds, max_radius_m=settings.max_search_radius_m
        )

    async def RegisterUnit(self, request: dispatch_pb2.RegisterUnitRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        u = request.unit
        status = _unit_status(u.status, "unit.status", allow_unspecified=True)
        station = u.station_location if u.HasField("station_location") else None
        unit_in = UnitIn(
            id=u.id.strip(), call_sign=u.call_sign.strip(),
            agency=codes.agency_code(u.agency_code, u.agency, field="unit.agency"),
            capabilities=[c.strip() for c in u.capabilities], unit_type=u.unit_type.strip() or "DEFAULT",
            lat=u.location.lat, lon=u.location.lon, address=u.location.address,
            station_name=u.station, station_lat=station.lat if station else None,
            station_lon=station.lon if station else None, district=u.district, status=status,
        )
        units_service.validate_unit(unit_in, known_agencies=set(codes.AGENCIES.codes))
        unit = await db.in_transaction(self._pool, lambda conn: units_service.register(conn, unit_in))
        return unit_pb(unit)

    async def GetUnit(self, request: dispatch_pb2.GetUnitRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        require(_required(request.id, "id"))
        async with self._pool.acquire() as conn:
            return unit_pb(await units_service.get(conn, request.id))

    async def UpdateUnitStatus(self, request: dispatch_pb2.UpdateUnitStatusRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        require(_required(request.unit_id, "unit_id"))
        target = _unit_status(request.status, "status", allow_unspecified=False)
        assert target is not None
        access.check_unit(auth.current_principal(), request.unit_id)
        location = None
        if request.HasField("location"):
            location = (request.location.lat, request.location.lon, request.location.address)
        actor = _actor()
        unit = await db.in_transaction(
            self._pool,
            lambda conn: units_service.update_status(
                conn, unit_id=request.unit_id, target=target, location=location, reason=request.reason,
                actor=actor, rules=self._rules,
            ),
        )
        return unit_pb(unit)

    async def StreamLocations(  # noqa: N802
        self, request_iterator: AsyncIterator[dispatch_pb2.UnitLocation], context: Any
    ) -> dispatch_pb2.StreamLocationsSummary:
        summary = LocationSummary()
        index = 0
        principal = auth.current_principal()
        async for msg in request_iterator:
            access.check_unit(principal, msg.unit_id)  # another unit's fix ends the stream: PERMISSION_DENIED
            try:
                observed_at = msg.observed_at.ToDatetime(tzinfo=UTC) if msg.HasField("observed_at") else None
            except (ValueError, OverflowError):  # outside years 1-9999: this fix is rejected, the stream goes on
                summary.rejected += 1
                if len(summary.errors) < MAX_ERRORS:
                    summary.errors.append(f"{index}: observed_at: thời điểm không hợp lệ (invalid timestamp)")
                index += 1
                continue
            fix = LocationFix(
                unit_id=msg.unit_id, lat=msg.location.lat, lon=msg.location.lon,
                observed_at=observed_at,
                heading_deg=msg.heading_deg, speed_kmh=msg.speed_kmh, accuracy_m=msg.accuracy_m,
                address=msg.location.address,
            )
            now = datetime.now(UTC)
            async with self._pool.acquire() as conn, conn.transaction():
                unit, problem = await units_service.apply_fix(conn, fix, now)
            if unit is not None:
                summary.accepted += 1
                if unit.location_updated_at and (
                    summary.last_observed_at is None or unit.location_updated_at > summary.last_observed_at
                ):
                    summary.last_observed_at = unit.location_updated_at
            else:
                summary.rejected += 1
                if len(summary.errors) < MAX_ERRORS:
                    summary.errors.append(f"{index}: {msg.unit_id}: {problem}")
            index += 1
        return dispatch_pb2.StreamLocationsSummary(
            accepted=summary.accepted, rejected=summary.rejected, errors=summary.errors,
            last_observed_at=ts(summary.last_observed_at),
        )

    async def ListUnits(self, request: dispatch_pb2.ListUnitsRequest, context: Any) -> dispatch_pb2.ListUnitsResponse:  # noqa: N802
        size = _page(request.page_size, default=100, maximum=1000, path="page_size")
        violations: list[FieldViolation] = []
        agencies = codes.agency_codes(request.agency_codes, request.agencies, violations)
        statuses = [_unit_status(s, "statuses", allow_unspecified=False) for s in request.statuses]
        try:
            after = next(iter(decode_page_token(request.page_token, 1)), "")
        except ValidationFailed as exc:
            after = ""
            violations.extend(exc.violations)
        violations += [FieldViolation(f"ward_codes[{i}]", ward_violation_text())
                       for i, code in enumerate(request.ward_codes) if admin_units().get(code) is None]
        require(violations)
        async with self._pool.acquire() as conn:
            units = await units_store.list_units(
                conn, agencies=agencies, statuses=[int(s) for s in statuses if s is not None],
                capability=request.capability, district=request.district, after_id=after, limit=size + 1,
                ward_codes=list(request.ward_codes),
            )
        token = encode_page_token(units[size - 1].id) if len(units) > size else ""
        return dispatch_pb2.ListUnitsResponse(units=[unit_pb(u) for u in units[:size]], next_page_token=token)

    async def RecommendUnits(  # noqa: N802
        self, request: dispatch_pb2.RecommendUnitsRequest, context: Any
    ) -> dispatch_pb2.RecommendUnitsResponse:
        require(_required(request.incident_id, "incident_id"))
        limit = _page(request.limit, default=5, maximum=50, path="limit")
        async with self._pool.acquire() as conn:
            view = await view_store.get(conn, request.incident_id)
            if view is None:
                raise NotFound("sự cố (incident)", request.incident_id)
            wanted = [c.strip() for c in request.capabilities if c.strip()]
            if not wanted:
                card = self._rules.run_card_for(view.category, view.priority)
                wanted = card.capabilities if card else []
            candidates = await find_candidates(
                conn, lat=view.lat, lon=view.lon, wanted=wanted, limit=limit, rules=self._rules,
                max_radius_m=self._settings.max_search_radius_m,
            )
        return dispatch_pb2.RecommendUnitsResponse(
            candidates=[
                dispatch_pb2.Candidate(unit=unit_pb(c.unit), distance_m=c.distance_m, eta_seconds=c.eta_seconds,
                                       matched_capability=c.matched_capability)
                for c in candidates
            ],
            required_capabilities=wanted,
        )

    async def AssignUnit(self, request: dispatch_pb2.AssignUnitRequest, context: Any) -> dispatch_pb2.Assignment:  # noqa: N802
        require(_required(request.incident_id, "incident_id") + _required(request.unit_id, "unit_id"))
        actor = _actor()
        assignment = await db.in_transaction(
            self._pool,
            lambda conn: self._dispatcher.assign(
                conn, incident_id=request.incident_id, unit_id=request.unit_id, capability=request.capability.strip(),
                reason=request.reason, actor=actor,
            ),
        )
        return assignment_pb(assignment)

    async def AcknowledgeAssignment(  # noqa: N802
        self, request: dispatch_pb2.AcknowledgeAssignmentRequest, context: Any
    ) -> dispatch_pb2.Assignment:
        require(_required(request.assignment_id, "assignment_id"))
        actor = _actor()
        bound = access.bound_unit(auth.current_principal())
        if bound is not None:
            async with self._pool.acquire() as conn:
                current = await assignments_store.get_assignment(conn, request.assignment_id)
            if current is None:
                raise NotFound("phân công (assignment)", request.assignment_id)
            access.check_unit(auth.current_principal(), current.unit_id)
        assignment = await db.in_transaction(
            self._pool,
            lambda conn: self._dispatcher.acknowledge(
                conn, assignment_id=request.assignment_id, accept=request.accept, reason=request.reason,
                actor=actor, now=datetime.now(UTC),
            ),
        )
        return assignment_pb(assignment)

    async def CancelAssignment(  # noqa: N802
        self, request: dispatch_pb2.CancelAssignmentRequest, context: Any
    ) -> dispatch_pb2.Assignment:
        require(_required(request.assignment_id, "assignment_id"))
        actor = _actor()
        assignment = await db.in_transaction(
            self._pool,
            lambda conn: self._dispatcher.cancel(
                conn, assignment_id=request.assignment_id, reason=request.reason, actor=actor, now=datetime.now(UTC)
            ),
        )
        return assignment_pb(assignment)

    async def ListAssignments(  # noqa: N802
        self, request: dispatch_pb2.ListAssignmentsRequest, context: Any
    ) -> dispatch_pb2.ListAssignmentsResponse:
        async with self._pool.acquire() as conn:
            items = await assignments_store.list_assignments(
                conn, incident_id=request.incident_id, unit_id=request.unit_id, active_only=request.active_only
            )
        return dispatch_pb2.ListAssignmentsResponse(assignments=[assignment_pb(a) for a in items])

    async def ExportEido(self, request: dispatch_pb2.ExportEidoRequest, context: Any) -> dispatch_pb2.EidoDocument:  # noqa: N802
        require(_required(request.incident_id, "incident_id"))
        exported = await self._importer.export(request.incident_id)
        return dispatch_pb2.EidoDocument(
            json=exported.json, incident_id=exported.incident_id, eido_id=exported.eido_id,
            last_update=ts(exported.last_update),
        )

    async def ImportEido(self, request: dispatch_pb2.ImportEidoRequest, context: Any) -> dispatch_pb2.IncidentRef:  # noqa: N802
        ref = await self._importer.import_document(request.json)
        return dispatch_pb2.IncidentRef(
            incident_id=ref.incident_id, number=ref.number, created=ref.created, eido_id=ref.eido_id
        )
