"""The rating link in a resolution message (đánh giá mức độ hài lòng).

A citizen who followed their report gets, with "đã giải quyết" by SMS or e-mail, a signed one-time
link to the gateway's rating page. The nonce is the delivery id, so a retried delivery carries the
same link and each delivery (each recipient) can rate once; the expiry runs from the resolution.
Staff subscriptions and webhooks get no link: a rating is the citizen's word.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cityops_notifications.notices.models import Notice
from cityops_platform import ratinglinks

LINK_CHANNELS = frozenset({"EMAIL", "SMS"})
RESOLVED = "STATUS_RESOLVED"


class RatingLinks:
    def __init__(self, *, jwt_secret: str, settings: ratinglinks.RatingLinkSettings | None = None) -> None:
        self._s = settings or ratinglinks.RatingLinkSettings()
        self._key = ratinglinks.link_key(jwt_secret, self._s.secret)

    def context(self, notice: Notice, *, delivery_id: str, channel: str, owner_role: str) -> dict[str, Any]:
        """``{"rating_url": ...}`` for a citizen's SMS/e-mail about a resolution, else ``{}``."""
        if (notice.context.get("change") != "transitioned" or notice.context.get("to_status") != RESOLVED
                or channel not in LINK_CHANNELS or owner_role != "citizen" or not notice.incident_id):
            return {}
        token = ratinglinks.issue(self._key, incident_id=notice.incident_id, nonce=delivery_id,
                                  expires_at=notice.occurred_at + timedelta(seconds=self._s.ttl_seconds))
        return {"rating_url": ratinglinks.url(self._s.base_url, token)}
