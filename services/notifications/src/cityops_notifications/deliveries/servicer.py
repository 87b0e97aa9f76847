"""Delivery RPCs: proto ↔ domain only."""

from __future__ import annotations

from typing import Any

import asyncpg

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_notifications.deliveries import service
from cityops_notifications.deliveries.events import delivery_pb
from cityops_platform.auth import current_principal
from cityops_platform.errors import FieldViolation, ValidationFailed


def _statuses(values: list[int]) -> list[str]:
    names = []
    for i, value in enumerate(values):
        if value not in pb.DeliveryStatus.values() or value == 0:
            raise ValidationFailed([FieldViolation(f"statuses[{i}]", "trạng thái không hợp lệ (invalid status)")])
        names.append(str(pb.DeliveryStatus.Name(value)).removeprefix("DELIVERY_STATUS_"))  # type: ignore[arg-type]
    return names


class DeliveryRpcs:
    pool: asyncpg.Pool

    async def ListDeliveries(self, request: pb.ListDeliveriesRequest, context: Any) -> pb.ListDeliveriesResponse:  # noqa: N802
        items, token = await service.list_deliveries(
            statuses=_statuses(list(request.statuses)), subscription_id=request.subscription_id,
            event_id=request.event_id, page_size=request.page_size, page_token=request.page_token,
            actor=current_principal(), pool=self.pool,
        )
        return pb.ListDeliveriesResponse(deliveries=[delivery_pb(d) for d in items], next_page_token=token)

    async def ReplayDelivery(self, request: pb.ReplayDeliveryRequest, context: Any) -> pb.Delivery:  # noqa: N802
        return delivery_pb(await service.replay_delivery(request.delivery_id, actor=current_principal(),
                                                         pool=self.pool))
