"""Signed one-time rating links (đánh giá mức độ hài lòng): issued by notifications in a resolution
message, opened on the gateway, verified and consumed by incidents.

A token is ``<payload>.<signature>``: the payload is URL-safe base64 of a small JSON document
(incident id, nonce, expiry), the signature an HMAC-SHA256 of the payload (stdlib ``hmac``, compared
in constant time). The key is CITYOPS_RATING_LINK_SECRET, or derived from the JWT secret, so every
service of one deployment agrees without new configuration. Verifying proves who issued the link;
the nonce makes it one-time: incidents stores each used nonce under a unique index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic_settings import BaseSettings, SettingsConfigDict

PATH = "/ratings"  # the gateway page: <base_url>/ratings/<token>


class RatingLinkSettings(BaseSettings):
    """``CITYOPS_RATING_LINK_SECRET`` and ``CITYOPS_RATING_LINK_BASE_URL`` (the public gateway)."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_RATING_LINK_", extra="ignore")

    secret: str | None = None
    base_url: str = "http://127.0.0.1:8080"


class InvalidLink(ValueError):
    """The token is malformed, forged or expired (``reason``: malformed | signature | expired)."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RatingLink:
    incident_id: str
    nonce: str
    expires_at: datetime


def link_key(jwt_secret: str, explicit: str | None = None) -> bytes:
    """The HMAC key: the explicit secret if set, else one derived from the JWT secret."""
    material = explicit or f"cityops-rating-link:{jwt_secret}"
    return hashlib.sha256(material.encode()).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, *, incident_id: str, nonce: str, expires_at: datetime) -> str:
    """A token for rating ``incident_id`` once, until ``expires_at``."""
    payload = _b64(json.dumps({"i": incident_id, "n": nonce, "e": int(expires_at.timestamp())},
                              separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read(token: str) -> RatingLink:
    """The token's claims WITHOUT checking the signature (to show a page); raises InvalidLink."""
    try:
        payload, _ = token.split(".", 1)
        data = json.loads(_unb64(payload))
        return RatingLink(str(data["i"]), str(data["n"]), datetime.fromtimestamp(int(data["e"]), tz=UTC))
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError) as exc:
        raise InvalidLink("liên kết đánh giá không hợp lệ (malformed rating link)") from exc


def verify(key: bytes, token: str, *, now: datetime) -> RatingLink:
    """The claims of a token signed with ``key`` that has not expired; raises InvalidLink."""
    if len(token) > 1024 or token.count(".") != 1:
        raise InvalidLink("liên kết đánh giá không hợp lệ (malformed rating link)")
    payload, signature = token.split(".", 1)
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise InvalidLink("chữ ký liên kết không đúng (rating link signature mismatch)", "signature")
    link = read(token)
    if now >= link.expires_at:
        raise InvalidLink("liên kết đánh giá đã hết hạn (rating link expired)", "expired")
    return link


def url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}/{token}"
