"""Subscription RPCs: proto ↔ domain only."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_notifications import codes
from cityops_notifications.geo_pb import area_in, area_out
from cityops_notifications.secretbox import SecretBox
from cityops_notifications.settings import NotificationsSettings
from cityops_notifications.subscriptions import service
from cityops_notifications.subscriptions.models import Subscription, SubscriptionFilter, SubscriptionIn
from cityops_notifications.subscriptions.store import SubscriptionStore
from cityops_platform.auth import current_principal
from cityops_platform.errors import FieldViolation, ValidationFailed


def channel_name(value: int, field: str, *, allow_unspecified: bool = False) -> str | None:
    """'WEBHOOK'/'EMAIL'/'SMS' for a Channel value; unknown numbers are INVALID_ARGUMENT."""
    if value == 0 and allow_unspecified:
        return None
    if value not in pb.Channel.values() or value == 0:
        raise ValidationFailed([FieldViolation(field, "kênh không hợp lệ (invalid channel)")])
    return str(pb.Channel.Name(value)).removeprefix("CHANNEL_")  # type: ignore[arg-type]


def subscription_in(msg: pb.Subscription) -> SubscriptionIn:
    f = msg.filter
    return SubscriptionIn(
        channel=channel_name(msg.channel, "subscription.channel") or "",
        address=msg.address,
        language=msg.language,
        secret=msg.secret,
        description=msg.description,
        filter=SubscriptionFilter(
            event_types=tuple(f.event_types),
            categories=tuple(f.categories),
            min_priority=f.min_priority,
            area=area_in(f.area, f.HasField("area")),
            agencies=(*f.agencies, *f.agency_codes),
            districts=tuple(f.districts),
            incident_id=f.incident_id,
            ward_codes=tuple(f.ward_codes),
        ),
    )


def subscription_pb(sub: Subscription) -> pb.Subscription:
    created = Timestamp()
    created.FromDatetime(sub.created_at)
    msg = pb.Subscription(
        id=sub.id, channel=pb.Channel.Value(f"CHANNEL_{sub.channel}"), address=sub.address, language=sub.language,
        owner=sub.owner, description=sub.description, active=sub.active, has_secret=sub.has_secret,
        created_at=created,
    )
    f = sub.filter
    msg.filter.event_types.extend(f.event_types)
    msg.filter.categories.extend(f.categories)
    msg.filter.min_priority = f.min_priority
    msg.filter.agency_codes.extend(str(a) for a in f.agencies)
    msg.filter.agencies.extend(e for e in (codes.agency_enum(str(a)) for a in f.agencies) if e)  # type: ignore[misc]
    msg.filter.districts.extend(f.districts)
    msg.filter.ward_codes.extend(f.ward_codes)
    msg.filter.incident_id = f.incident_id
    if f.area is not None:
        area_out(f.area, msg.filter.area)
    return msg


class SubscriptionRpcs:
    subscriptions: SubscriptionStore
    box: SecretBox
    settings: NotificationsSettings

    async def CreateSubscription(self, request: pb.CreateSubscriptionRequest, context: Any) -> pb.Subscription:  # noqa: N802
        if not request.HasField("subscription"):
            raise ValidationFailed([FieldViolation("subscription", "bắt buộc (required)")])
        sub = await service.create_subscription(subscription_in(request.subscription), actor=current_principal(),
                                                store=self.subscriptions, box=self.box,
                                                allow=self.settings.outbound_allow())
        return subscription_pb(sub)

    async def ListSubscriptions(  # noqa: N802
        self, request: pb.ListSubscriptionsRequest, context: Any
    ) -> pb.ListSubscriptionsResponse:
        channel = channel_name(request.channel, "channel", allow_unspecified=True)
        items, token = await service.list_subscriptions(
            owner=request.owner, channel=channel, page_size=request.page_size, page_token=request.page_token,
            actor=current_principal(), store=self.subscriptions,
        )
        return pb.ListSubscriptionsResponse(subscriptions=[subscription_pb(s) for s in items], next_page_token=token)

    async def DeleteSubscription(  # noqa: N802
        self, request: pb.DeleteSubscriptionRequest, context: Any
    ) -> pb.DeleteSubscriptionResponse:
        await service.delete_subscription(request.id, actor=current_principal(), store=self.subscriptions)
        return pb.DeleteSubscriptionResponse()
