"""Subscription RPCs over the real api: validation with field paths, secrets never returned, ownership."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_devtools.testing import status_details

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]


async def test_bad_fields_are_invalid_argument_with_their_paths(stack: Any) -> None:
    bad = pb.Subscription(channel=pb.CHANNEL_WEBHOOK, address="not a url", secret="x", description="a\x00b",
                          filter=pb.SubscriptionFilter(min_priority=7, agencies=[99]))
    with pytest.raises(grpc.aio.AioRpcError) as nul:
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=bad),
                                            metadata=stack.auth("operator"))
    assert nul.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in status_details(nul.value)} == {"subscription.description"}
    bad.description = "ok"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=bad),
                                            metadata=stack.auth("operator"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {f for f, _ in status_details(err.value)} == {
        "subscription.address", "subscription.secret", "subscription.filter.min_priority",
        "subscription.filter.agencies[0]"}
    bad.channel = 42  # type: ignore[assignment]
    with pytest.raises(grpc.aio.AioRpcError) as enum_err:
        await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=bad),
                                            metadata=stack.auth("operator"))
    assert enum_err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_secret_is_never_returned_and_only_the_owner_sees_and_deletes(stack: Any) -> None:
    sub = pb.Subscription(channel=pb.CHANNEL_WEBHOOK, address="https://203.162.4.191/hooks/cityops",
                          secret="top-secret-value-123", language="en")
    created = await stack.stub.CreateSubscription(pb.CreateSubscriptionRequest(subscription=sub),
                                                  metadata=stack.auth("integrator", "owner-a"))
    assert created.secret == "" and created.has_secret and created.active
    mine = await stack.stub.ListSubscriptions(pb.ListSubscriptionsRequest(),
                                              metadata=stack.auth("integrator", "owner-a"))
    assert [s.id for s in mine.subscriptions] == [created.id] and mine.subscriptions[0].secret == ""
    with pytest.raises(grpc.aio.AioRpcError) as others:
        await stack.stub.ListSubscriptions(pb.ListSubscriptionsRequest(owner="owner-a"),
                                           metadata=stack.auth("integrator", "owner-b"))
    assert others.value.code() == grpc.StatusCode.PERMISSION_DENIED
    everyone = await stack.stub.ListSubscriptions(pb.ListSubscriptionsRequest(owner="*", page_size=1000),
                                                  metadata=stack.auth("supervisor"))
    assert created.id in {s.id for s in everyone.subscriptions}
    with pytest.raises(grpc.aio.AioRpcError) as not_owner:
        await stack.stub.DeleteSubscription(pb.DeleteSubscriptionRequest(id=created.id),
                                            metadata=stack.auth("integrator", "owner-b"))
    assert not_owner.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await stack.stub.DeleteSubscription(pb.DeleteSubscriptionRequest(id=created.id),
                                        metadata=stack.auth("integrator", "owner-a"))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stack.stub.DeleteSubscription(pb.DeleteSubscriptionRequest(id=created.id),
                                            metadata=stack.auth("integrator", "owner-a"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
