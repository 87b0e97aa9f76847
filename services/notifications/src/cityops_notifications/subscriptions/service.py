"""Creating, listing and deleting subscriptions, with the role rules.

Guarantees: a secret is stored encrypted and never returned; a citizen's subscription only ever
follows an incident they reported; only supervisors and admins receive escalations.
"""

from __future__ import annotations

import uuid

from cityops_notifications.secretbox import SecretBox
from cityops_notifications.subscriptions import rules
from cityops_notifications.subscriptions.models import PRIVILEGED_ROLES, Subscription, SubscriptionIn
from cityops_notifications.subscriptions.store import SubscriptionStore
from cityops_platform import netguard
from cityops_platform.auth import Principal
from cityops_platform.errors import FieldViolation, NotFound, PermissionDenied, ValidationFailed


async def check_webhook_target(
    address: str, *, allow: tuple[netguard.Network, ...] = (), resolve: netguard.Resolver = netguard.system_resolve
) -> None:
    """``ValidationFailed`` on ``subscription.address`` unless the URL's host resolves to public addresses only
    (or to ``allow``). Checked again at every send, so a name that re-resolves later gains nothing."""
    try:
        await netguard.resolve_public(address, allow, resolve=resolve)
    except netguard.UnsafeAddress as exc:
        raise ValidationFailed([FieldViolation(
            "subscription.address", f"địa chỉ webhook phải là địa chỉ công khai (must be a public address): {exc}"
        )]) from None
    except OSError:
        raise ValidationFailed([FieldViolation(
            "subscription.address", "không phân giải được tên máy (the host name does not resolve)"
        )]) from None


async def create_subscription(
    sub_in: SubscriptionIn, *, actor: Principal, store: SubscriptionStore, box: SecretBox,
    allow: tuple[netguard.Network, ...] = (), resolve: netguard.Resolver = netguard.system_resolve,
) -> Subscription:
    """Validate, apply the role rules and store; the returned subscription carries no secret.

    A webhook's address must resolve to public addresses only (``allow`` excepted, see ``netguard``)."""
    clean = rules.validate_subscription(sub_in)
    role = rules.owner_role(actor.roles)
    rules.check_role(clean, role)
    if clean.channel == "WEBHOOK":
        await check_webhook_target(clean.address, allow=allow, resolve=resolve)
    if role == "citizen":
        reporters = await store.reporters_of(clean.filter.incident_id)
        # Unknown yet (the report event may still be in flight): delivery re-checks it per event.
        if reporters and actor.subject not in reporters:
            raise PermissionDenied(
                "Bạn chỉ theo dõi được phản ánh của chính mình (you may only follow your own report)"
            )
    sealed = box.seal(clean.secret) if clean.secret else None
    return await store.insert(sub_id=str(uuid.uuid4()), owner=actor.subject, owner_role=role,
                              sub_in=clean, secret_encrypted=sealed)


def page_bounds(page_size: int, page_token: str, default: int) -> tuple[int, int]:
    """(limit, offset) of a page request; bad values are ``ValidationFailed``."""
    if page_size < 0 or page_size > 1000:
        raise ValidationFailed([FieldViolation("page_size", "phải trong khoảng 0..1000 (must be within 0..1000)")])
    if page_token and not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 9):
        raise ValidationFailed([FieldViolation("page_token", "mã trang không hợp lệ (invalid page token)")])
    return page_size or default, int(page_token or 0)


async def list_subscriptions(
    *, owner: str, channel: str | None, page_size: int, page_token: str, actor: Principal, store: SubscriptionStore
) -> tuple[list[Subscription], str]:
    """The caller's subscriptions; supervisors and admins may ask for another owner's or all ("*")."""
    privileged = not actor.roles.isdisjoint(PRIVILEGED_ROLES)
    if owner and owner != actor.subject and not privileged:
        raise PermissionDenied("Chỉ xem được đăng ký của chính mình (you may only list your own subscriptions)")
    limit, offset = page_bounds(page_size, page_token, 100)
    who = None if owner == "*" else (owner or actor.subject)
    items = await store.list(owner=who, channel=channel, limit=limit + 1, offset=offset)
    token = str(offset + limit) if len(items) > limit else ""
    return items[:limit], token


async def delete_subscription(sub_id: str, *, actor: Principal, store: SubscriptionStore) -> None:
    """Deactivate a subscription (its delivery history stays); owners, supervisors and admins may."""
    try:
        uuid.UUID(sub_id)
    except ValueError:
        raise ValidationFailed([FieldViolation("id", "phải là UUID (must be a UUID)")]) from None
    sub = await store.get(sub_id)
    if sub is None or not sub.active:
        raise NotFound("subscription", sub_id)
    if sub.owner != actor.subject and actor.roles.isdisjoint(PRIVILEGED_ROLES):
        raise PermissionDenied("Không phải đăng ký của bạn (not your subscription)")
    await store.deactivate(sub_id)
