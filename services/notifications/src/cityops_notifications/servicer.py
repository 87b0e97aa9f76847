"""NotificationService: the subscription, delivery and alert RPCs on one gRPC service."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from cityops.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from cityops_notifications.alerts.servicer import AlertRpcs
from cityops_notifications.deliveries.servicer import DeliveryRpcs
from cityops_notifications.request_checks import check_request
from cityops_notifications.secretbox import SecretBox
from cityops_notifications.settings import NotificationsSettings
from cityops_notifications.subscriptions.servicer import SubscriptionRpcs
from cityops_notifications.subscriptions.store import SubscriptionStore
from cityops_platform.runtime import Resources

Rpc = Callable[[Any, Any, Any], Awaitable[Any]]


class NotificationServicer(SubscriptionRpcs, DeliveryRpcs, AlertRpcs,
                           notifications_pb2_grpc.NotificationServiceServicer):
    def __init__(self, res: Resources, settings: NotificationsSettings) -> None:
        self.pool = res.db
        self.settings = settings
        self.subscriptions = SubscriptionStore(res.db)
        self.box = SecretBox(settings.fernet_key())


def _checked(rpc: Rpc) -> Rpc:
    @functools.wraps(rpc)
    async def checked(self: Any, request: Any, context: Any) -> Any:
        check_request(request)
        return await rpc(self, request, context)

    return checked


# Every RPC of the service, including ones added later, gets the request checks first.
for _method in notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].methods:
    setattr(NotificationServicer, _method.name, _checked(getattr(NotificationServicer, _method.name)))
