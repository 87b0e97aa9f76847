"""CAP alert RPCs: proto enums ↔ CAP vocabulary, proto ↔ domain. No rules here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_notifications.alerts import service
from cityops_notifications.alerts.models import AlertIn, CapAlert, CapArea, CapInfo
from cityops_notifications.geo import open_ring
from cityops_notifications.geo_pb import circle_in, point_in, point_out
from cityops_notifications.settings import NotificationsSettings
from cityops_platform.auth import current_principal
from cityops_platform.codecs import to_timestamp
from cityops_platform.errors import FieldViolation, ValidationFailed

_SPECIAL = {"CBRNE": "CBRNE", "ALL_CLEAR": "AllClear"}


def _cap(enum: Any, prefix: str, value: int, field: str, default: str = "") -> str:
    """The CAP word for a proto enum value ('' or ``default`` for UNSPECIFIED)."""
    if value not in enum.values():
        raise ValidationFailed([FieldViolation(field, "giá trị không hợp lệ (unknown enum value)")])
    if value == 0:
        return default
    name = enum.Name(value).removeprefix(prefix)
    return str(_SPECIAL.get(name, name.title()))


def _proto(enum: Any, prefix: str, word: str) -> int:
    name = {v: k for k, v in _SPECIAL.items()}.get(word, word.upper())
    return int(enum.Value(prefix + name)) if word else 0


def _when(msg: Any, name: str, path: str = "") -> datetime | None:
    if not msg.HasField(name):
        return None
    try:
        return getattr(msg, name).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:  # outside years 1-9999: bad input, not a crash
        where = f"{path}.{name}" if path else name
        raise ValidationFailed([FieldViolation(where, "thời điểm không hợp lệ (invalid timestamp)")]) from exc


def info_in(msg: pb.CapInfo, path: str) -> CapInfo:
    area = None
    if msg.HasField("area"):
        a = msg.area
        area = CapArea(
            area_desc=a.area_desc,
            polygon=open_ring([point_in(p) for p in a.polygon.points]),
            circle=circle_in(a.circle) if a.HasField("circle") else None,
        )
    return CapInfo(
        language=msg.language,
        categories=tuple(_cap(pb.CapCategory, "CAP_CATEGORY_", c, f"{path}.categories[{i}]")
                         for i, c in enumerate(msg.categories)),
        event=msg.event,
        urgency=_cap(pb.Urgency, "URGENCY_", msg.urgency, f"{path}.urgency"),
        severity=_cap(pb.Severity, "SEVERITY_", msg.severity, f"{path}.severity"),
        certainty=_cap(pb.Certainty, "CERTAINTY_", msg.certainty, f"{path}.certainty"),
        headline=msg.headline, description=msg.description, instruction=msg.instruction, area=area,
        response_types=tuple(_cap(pb.ResponseType, "RESPONSE_TYPE_", r, f"{path}.response_types[{i}]")
                             for i, r in enumerate(msg.response_types)),
        effective=_when(msg, "effective", path), onset=_when(msg, "onset", path),
        expires=_when(msg, "expires", path),
        sender_name=msg.sender_name, web=msg.web, contact=msg.contact,
    )


_ts = to_timestamp


def info_pb(info: CapInfo) -> pb.CapInfo:
    msg = pb.CapInfo(
        language=info.language, event=info.event, headline=info.headline, description=info.description,
        instruction=info.instruction, sender_name=info.sender_name, web=info.web, contact=info.contact,
        urgency=_proto(pb.Urgency, "URGENCY_", info.urgency),  # type: ignore[arg-type]
        severity=_proto(pb.Severity, "SEVERITY_", info.severity),  # type: ignore[arg-type]
        certainty=_proto(pb.Certainty, "CERTAINTY_", info.certainty),  # type: ignore[arg-type]
    )
    msg.categories.extend(_proto(pb.CapCategory, "CAP_CATEGORY_", c) for c in info.categories)  # type: ignore[misc]
    msg.response_types.extend(_proto(pb.ResponseType, "RESPONSE_TYPE_", r) for r in info.response_types)  # type: ignore[misc]
    for name in ("effective", "onset", "expires"):
        value = getattr(info, name)
        if value is not None:
            getattr(msg, name).CopyFrom(_ts(value))
    if info.area is not None:
        msg.area.area_desc = info.area.area_desc
        for p in info.area.polygon:
            point_out(p, msg.area.polygon.points.add())
        if info.area.circle is not None:
            point_out(info.area.circle.center, msg.area.circle.center)
            msg.area.circle.radius_m = info.area.circle.radius_m
    return msg


def alert_pb(alert: CapAlert) -> pb.CapAlert:
    msg = pb.CapAlert(
        id=alert.id, identifier=alert.identifier, sender=alert.sender,
        status=_proto(pb.CapStatus, "CAP_STATUS_", alert.status),  # type: ignore[arg-type]
        msg_type=_proto(pb.MsgType, "MSG_TYPE_", alert.msg_type),  # type: ignore[arg-type]
        scope=_proto(pb.CapScope, "CAP_SCOPE_", alert.scope),  # type: ignore[arg-type]
        state=pb.CapAlertState.Value(f"CAP_ALERT_STATE_{alert.state}"),
        references=list(alert.references), author=alert.author, approver=alert.approver,
        infos=[info_pb(i) for i in alert.infos], xml=alert.xml, incident_id=alert.incident_id, note=alert.note,
        supersedes_id=alert.supersedes_id, restriction=alert.restriction, addresses=alert.addresses,
        created_at=_ts(alert.created_at), updated_at=_ts(alert.updated_at),
    )
    if alert.sent_at is not None:
        msg.sent_at.CopyFrom(_ts(alert.sent_at))
    return msg


class AlertRpcs:
    pool: asyncpg.Pool
    settings: NotificationsSettings

    async def DraftAlert(self, request: pb.DraftAlertRequest, context: Any) -> pb.CapAlert:  # noqa: N802
        a = request.alert
        alert_in = AlertIn(
            infos=tuple(info_in(info, f"alert.infos[{i}]") for i, info in enumerate(a.infos)),
            status=_cap(pb.CapStatus, "CAP_STATUS_", a.status, "alert.status", default="Actual"),
            scope=_cap(pb.CapScope, "CAP_SCOPE_", a.scope, "alert.scope", default="Public"),
            restriction=a.restriction, addresses=a.addresses, incident_id=a.incident_id, note=a.note,
        )
        alert = await service.draft_alert(alert_in, actor=current_principal(), sender=self.settings.cap_sender,
                                          pool=self.pool)
        return alert_pb(alert)

    async def ApproveAlert(self, request: pb.ApproveAlertRequest, context: Any) -> pb.CapAlert:  # noqa: N802
        return alert_pb(await service.approve_alert(request.alert_id, actor=current_principal(), pool=self.pool,
                                                    max_attempts=self.settings.notify_max_attempts))

    async def CancelAlert(self, request: pb.CancelAlertRequest, context: Any) -> pb.CapAlert:  # noqa: N802
        return alert_pb(await service.cancel_alert(request.alert_id, request.reason, actor=current_principal(),
                                                   pool=self.pool))

    async def UpdateAlert(self, request: pb.UpdateAlertRequest, context: Any) -> pb.CapAlert:  # noqa: N802
        infos = tuple(info_in(info, f"infos[{i}]") for i, info in enumerate(request.infos))
        return alert_pb(await service.update_alert(request.alert_id, infos, request.note,
                                                   actor=current_principal(), pool=self.pool))

    async def GetAlert(self, request: pb.GetAlertRequest, context: Any) -> pb.CapAlert:  # noqa: N802
        return alert_pb(await service.get_alert(request.alert_id, pool=self.pool))

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: Any) -> pb.ListAlertsResponse:  # noqa: N802
        states = []
        for i, value in enumerate(request.states):
            state = _cap(pb.CapAlertState, "CAP_ALERT_STATE_", value, f"states[{i}]")
            if state:
                states.append(state.upper())
        items, token = await service.list_alerts(states=states, page_size=request.page_size,
                                                 page_token=request.page_token, pool=self.pool)
        return pb.ListAlertsResponse(alerts=[alert_pb(a) for a in items], next_page_token=token)
