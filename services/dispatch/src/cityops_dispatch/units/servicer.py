"""The units RPCs: proto ⇄ models and errors only; the rules and transactions are in units/service.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch import access, codes
from cityops_dispatch.assignments.models import Actor
from cityops_dispatch.convert import page_limit, required, ts, unit_pb, unit_status
from cityops_dispatch.rules import Rules
from cityops_dispatch.units import service
from cityops_dispatch.units.models import LocationFix, LocationSummary, UnitIn
from cityops_platform import auth
from cityops_platform.codecs import decode_page_token, encode_page_token
from cityops_platform.errors import FieldViolation, ValidationFailed, require
from cityops_platform.geo.admin_units import admin_units, ward_violation_text

MAX_ERRORS = 100


class UnitsRpc:
    """RegisterUnit, GetUnit, UpdateUnitStatus, StreamLocations, ListUnits (a part of DispatchServicer)."""

    _pool: asyncpg.Pool
    _rules: Rules

    async def RegisterUnit(self, request: dispatch_pb2.RegisterUnitRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        u = request.unit
        status = unit_status(u.status, "unit.status", allow_unspecified=True)
        station = u.station_location if u.HasField("station_location") else None
        unit_in = UnitIn(
            id=u.id.strip(), call_sign=u.call_sign.strip(),
            agency=codes.agency_code(u.agency_code, u.agency, field="unit.agency"),
            capabilities=[c.strip() for c in u.capabilities], unit_type=u.unit_type.strip() or "DEFAULT",
            lat=u.location.lat, lon=u.location.lon, address=u.location.address,
            station_name=u.station, station_lat=station.lat if station else None,
            station_lon=station.lon if station else None, district=u.district, status=status,
        )
        unit = await service.register_unit(unit_in, pool=self._pool, known_agencies=set(codes.AGENCIES.codes))
        return unit_pb(unit)

    async def GetUnit(self, request: dispatch_pb2.GetUnitRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        require(required(request.id, "id"))
        return unit_pb(await service.get_unit(request.id, pool=self._pool))

    async def UpdateUnitStatus(self, request: dispatch_pb2.UpdateUnitStatusRequest, context: Any) -> dispatch_pb2.Unit:  # noqa: N802
        require(required(request.unit_id, "unit_id"))
        target = unit_status(request.status, "status", allow_unspecified=False)
        assert target is not None
        access.check_unit(auth.current_principal(), request.unit_id)
        location = None
        if request.HasField("location"):
            location = (request.location.lat, request.location.lon, request.location.address)
        unit = await service.change_status(
            pool=self._pool, unit_id=request.unit_id, target=target, location=location, reason=request.reason,
            actor=Actor.current(), rules=self._rules,
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
            unit, problem = await service.record_fix(fix, pool=self._pool)
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
        size = page_limit(request.page_size, default=100, maximum=1000, path="page_size")
        violations: list[FieldViolation] = []
        agencies = codes.agency_codes(request.agency_codes, request.agencies, violations)
        statuses = [unit_status(s, "statuses", allow_unspecified=False) for s in request.statuses]
        try:
            after = next(iter(decode_page_token(request.page_token, 1)), "")
        except ValidationFailed as exc:
            after = ""
            violations.extend(exc.violations)
        violations += [FieldViolation(f"ward_codes[{i}]", ward_violation_text())
                       for i, code in enumerate(request.ward_codes) if admin_units().get(code) is None]
        require(violations)
        units = await service.list_units(
            pool=self._pool, agencies=agencies, statuses=[s for s in statuses if s is not None],
            capability=request.capability, district=request.district, ward_codes=list(request.ward_codes),
            after_id=after, limit=size + 1,
        )
        token = encode_page_token(units[size - 1].id) if len(units) > size else ""
        return dispatch_pb2.ListUnitsResponse(units=[unit_pb(u) for u in units[:size]], next_page_token=token)
