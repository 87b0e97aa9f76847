"""The notifications api: NotificationService on :50054, with who may call what."""

from __future__ import annotations

from cityops.notifications.v1 import notifications_pb2_grpc
from cityops_notifications.deliveries import metrics as delivery_metrics
from cityops_notifications.servicer import NotificationServicer
from cityops_notifications.settings import NotificationsSettings
from cityops_platform import auth
from cityops_platform.grpc import GrpcService
from cityops_platform.runtime import Resources, serve_grpc
from cityops_platform.settings import Settings

SERVICE = "cityops.notifications.v1.NotificationService"
SUPERVISORS = ["supervisor", "admin"]
# Citizens may subscribe (to their own report only: the rule is in subscriptions.rules.check_role).
SUBSCRIBERS = [*auth.STAFF, "integrator", "citizen"]
POLICY = auth.AccessPolicy.for_service(
    SERVICE,
    {
        "CreateSubscription": SUBSCRIBERS,
        "ListSubscriptions": SUBSCRIBERS,
        "DeleteSubscription": SUBSCRIBERS,
        "ListDeliveries": SUBSCRIBERS,
        "ReplayDelivery": ["operator", "supervisor", "admin"],
        "DraftAlert": SUPERVISORS,
        "ApproveAlert": SUPERVISORS,
        "CancelAlert": SUPERVISORS,
        "UpdateAlert": SUPERVISORS,
        "GetAlert": [*auth.STAFF, "integrator"],
        "ListAlerts": [*auth.STAFF, "integrator"],
    },
)


def build(res: Resources) -> list[GrpcService]:
    delivery_metrics.install()  # delivery outcomes from the events this api's relay publishes
    settings = NotificationsSettings.from_base(res.settings)
    return [GrpcService(SERVICE, NotificationServicer(res, settings),
                        notifications_pb2_grpc.add_NotificationServiceServicer_to_server)]


async def serve(settings: Settings) -> None:
    await serve_grpc("notifications", NotificationsSettings.from_base(settings), build=build, policy=POLICY)
