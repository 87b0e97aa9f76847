"""WatchAlerts (live) and ListSensorAlerts (history): proto ↔ domain only."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from cityops.sensors.v1 import sensors_pb2 as pb
from cityops_platform.errors import FieldViolation, ValidationFailed
from cityops_platform.geo.admin_units import admin_units, ward_violation_text
from cityops_sensors import convert as pc
from cityops_sensors.alerts.broadcast import AlertBroadcast
from cityops_sensors.alerts.store import AlertStore


def _matches(alert: pb.SensorAlert, kinds: set[int], wards: frozenset[str] | None, sensor_id: str) -> bool:
    return ((not kinds or alert.kind in kinds) and (wards is None or alert.ward_code in wards)
            and (not sensor_id or alert.sensor_id == sensor_id))


def _wards(request: pb.WatchAlertsRequest) -> frozenset[str] | None:
    """The units asked for (ward_codes, and the deprecated district's units); None = anywhere."""
    units = admin_units()
    bad = [FieldViolation(f"ward_codes[{i}]", ward_violation_text())
           for i, code in enumerate(request.ward_codes) if units.get(code) is None]
    if bad:
        raise ValidationFailed(bad)
    wards = set(request.ward_codes)
    if request.district.strip():
        wards |= set(units.filter_codes(request.district) or ["-"])
    return frozenset(wards) if wards else None


def _token(raised_at: datetime, alert_id: str) -> str:
    return base64.urlsafe_b64encode(f"{raised_at.isoformat()}|{alert_id}".encode()).decode()


def _untoken(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        when, alert_id = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return datetime.fromisoformat(when), alert_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed([FieldViolation("page_token", "không hợp lệ (invalid page token)")]) from exc


class AlertsRpc:
    broadcast: AlertBroadcast
    alerts: AlertStore

    async def WatchAlerts(self, request: pb.WatchAlertsRequest, context: Any) -> AsyncIterator[pb.SensorAlert]:  # noqa: N802
        kinds = {pc.kind_value(pc.kind_name(k, "kinds")) for k in request.kinds}
        wards, sensor_id = _wards(request), request.sensor_id.strip()
        queue = await self.broadcast.open()
        try:
            # Initial metadata tells the client that it is subscribed: nothing after this is missed.
            await context.send_initial_metadata((("cityops-watch", "subscribed"),))
            if request.include_active:
                active = await self.alerts.search(active_only=True, sensor_id=sensor_id, kinds=[], limit=1000,
                                                before=None)
                for alert, _ in reversed(active):
                    if _matches(alert, kinds, wards, sensor_id):
                        yield alert
            while True:
                alert = await queue.get()
                if _matches(alert, kinds, wards, sensor_id):
                    yield alert
        finally:
            self.broadcast.close(queue)

    async def ListSensorAlerts(self, request: pb.ListSensorAlertsRequest, context: Any) -> pb.ListSensorAlertsResponse:  # noqa: N802
        if not 0 <= request.page_size <= 1000:
            raise ValidationFailed([FieldViolation("page_size", "từ 0 đến 1000 (0..1000)")])
        size = request.page_size or 100
        kinds = [pc.kind_name(k, "kinds") for k in request.kinds]
        rows = await self.alerts.search(active_only=request.active_only, sensor_id=request.sensor_id.strip(),
                                      kinds=kinds, limit=size + 1, before=_untoken(request.page_token))
        token = _token(rows[size - 1][1], rows[size - 1][0].alert_id) if len(rows) > size else ""
        return pb.ListSensorAlertsResponse(alerts=[a for a, _ in rows[:size]], next_page_token=token)
