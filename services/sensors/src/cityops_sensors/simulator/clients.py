"""The simulator's gRPC calls to other services, each optional: it only calls who answers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from cityops.common.v1 import common_pb2
from cityops_sensors.simulator.city import STATIONS

log = logging.getLogger("cityops.simulator")


async def answers(channel: grpc.aio.Channel, wait_s: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(channel.channel_ready(), wait_s)
        return True
    except (TimeoutError, grpc.RpcError):
        return False


async def register_units(addr: str, metadata: Any, rpc_timeout: float) -> int:
    """Two units at every station through dispatch's RegisterUnit; 0 when dispatch is not there."""
    try:
        from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc, resources_pb2
    except ImportError:
        return 0
    count = 0
    async with grpc.aio.insecure_channel(addr) as channel:
        if not await answers(channel):
            log.info("dispatch không trả lời, bỏ qua đăng ký đơn vị (dispatch not answering)")
            return 0
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        for st in STATIONS:
            station, agency, district, lat, lon = st["name"], st["agency"], st["district"], st["lat"], st["lon"]
            caps, unit_type, code = list(st["capabilities"]), str(st["unit_type"]), str(st["call_sign"])
            for n in (1, 2):
                slug = "".join(c for c in district.lower() if c.isascii() and c.isalnum())
                where = common_pb2.GeoPoint(lat=lat, lon=lon, address=station)
                unit = resources_pb2.Unit(
                    id=f"sim-{code.lower()}-{slug}-{n:02d}", call_sign=f"{code}-{slug[:3].upper()}-{n:02d}",
                    agency_code=agency, capabilities=caps, station=station,
                    location=where, station_location=where, district=district, unit_type=unit_type,
                    status=resources_pb2.UNIT_STATUS_AVAILABLE,
                )
                try:
                    await stub.RegisterUnit(dispatch_pb2.RegisterUnitRequest(unit=unit), metadata=metadata,
                                            timeout=rpc_timeout)
                    count += 1
                except grpc.RpcError as exc:  # e.g. already seeded by dispatch itself: fine
                    log.info("RegisterUnit refused", extra={"unit": unit.id, "code": exc.code().name})
    return count


async def report_hotline(addr: str, metadata: Any, rpc_timeout: float, call: dict[str, Any], key: str) -> str | None:
    """One 1022 hotline report through incidents' ReportIncident; None when incidents is not there."""
    try:
        from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc, resources_pb2
    except ImportError:
        return None
    async with grpc.aio.insecure_channel(addr) as channel:
        if not await answers(channel):
            return None
        stub = incidents_pb2_grpc.IncidentServiceStub(channel)
        request = incidents_pb2.ReportIncidentRequest(
            category_code=str(call["category"]),
            description=call["description"], source=resources_pb2.SOURCE_HOTLINE_1022, idempotency_key=key,
            location=common_pb2.GeoPoint(lat=call["lat"], lon=call["lon"], address=call["address"]),
            reporter=resources_pb2.Reporter(name="Người gọi 1022", phone="0912345678"),
        )
        try:
            reply = await stub.ReportIncident(request, metadata=metadata, timeout=rpc_timeout)
        except grpc.RpcError as exc:
            log.warning("ReportIncident failed", extra={"code": exc.code().name})
            return None
        return str(reply.incident.number or reply.incident.id)
