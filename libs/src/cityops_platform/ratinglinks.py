"""Signed one-time rating links (đánh giá mức độ hài lòng).

Issued by notifications in a resolution message, opened on the gateway, verified and consumed by incidents.

A token is URL-safe base64 of 52 bytes: the incident id and a nonce (two UUIDs), the expiry (Unix
seconds) and the first 128 bits of an HMAC-SHA256 of those (stdlib ``hmac``, compared in constant
time). Binary rather than JSON so the link fits an SMS. The key is CITYOPS_RATING_LINK_SECRET, or
derived from the JWT secret, so every service of one deployment agrees without new configuration.
Verifying proves who issued the link; the nonce makes it one-time: incidents stores each used nonce
under a unique index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic_settings import BaseSettings, SettingsConfigDict

PATH = "/ratings"  # the gateway page: <base_url>/ratings/<token>
_PAYLOAD_BYTES = 16 + 16 + 4
_SIG_BYTES = 16


class RatingLinkSettings(BaseSettings):
    """``CITYOPS_RATING_LINK_SECRET`` and ``CITYOPS_RATING_LINK_BASE_URL`` (the public gateway)."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_RATING_LINK_", extra="ignore")

    secret: str | None = None
    base_url: str = "http://127.0.0.1:8080"
    ttl_seconds: float = 30 * 86400  # how long a link in a resolution message stays valid


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


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]


def issue(key: bytes, *, incident_id: str, nonce: str, expires_at: datetime) -> str:
    """A token for rating ``incident_id`` once (per ``nonce``), until ``expires_at``. Both ids are
    UUIDs; the token is 70 characters, short enough for an SMS."""
    payload = uuid.UUID(incident_id).bytes + uuid.UUID(nonce).bytes + struct.pack(">I", int(expires_at.timestamp()))
    return _b64(payload + _sign(key, payload))


def _split(token: str) -> tuple[bytes, bytes]:
    if not token or len(token) > 128:
        raise InvalidLink("liên kết đánh giá không hợp lệ (malformed rating link)")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error) as exc:
        raise InvalidLink("liên kết đánh giá không hợp lệ (malformed rating link)") from exc
    if len(raw) != _PAYLOAD_BYTES + _SIG_BYTES:
        raise InvalidLink("liên kết đánh giá không hợp lệ (malformed rating link)")
    return raw[:_PAYLOAD_BYTES], raw[_PAYLOAD_BYTES:]


def read(token: str) -> RatingLink:
    """The token's claims WITHOUT checking the signature (to show a page); raises InvalidLink."""
    payload, _ = _split(token)
    (expires,) = struct.unpack(">I", payload[32:])
    return RatingLink(str(uuid.UUID(bytes=payload[:16])), str(uuid.UUID(bytes=payload[16:32])),
                      datetime.fromtimestamp(expires, tz=UTC))


def verify(key: bytes, token: str, *, now: datetime) -> RatingLink:
    """The claims of a token signed with ``key`` that has not expired; raises InvalidLink."""
    payload, signature = _split(token)
    if not hmac.compare_digest(_sign(key, payload), signature):
        raise InvalidLink("chữ ký liên kết không đúng (rating link signature mismatch)", "signature")
    link = read(token)
    if now >= link.expires_at:
        raise InvalidLink("liên kết đánh giá đã hết hạn (rating link expired)", "expired")
    return link


def url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}/{token}"
