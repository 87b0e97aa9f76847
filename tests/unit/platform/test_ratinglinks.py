"""Signed one-time rating links: round trip, forgery, expiry, malformed input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops_platform import ratinglinks

KEY = ratinglinks.link_key("jwt-secret")
INC, INC2 = "0b9b6c2e-1f0a-4d3e-9c55-2a1b3c4d5e6f", "7d1e2f30-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
N1, N2 = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-000000000000"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_link_verifies_with_its_key_and_carries_its_claims() -> None:
    token = ratinglinks.issue(KEY, incident_id=INC, nonce=N1, expires_at=NOW + timedelta(days=1))
    link = ratinglinks.verify(KEY, token, now=NOW)
    assert (link.incident_id, link.nonce) == (INC, N1)
    assert ratinglinks.url("http://x/", token) == f"http://x/ratings/{token}"


def test_a_link_signed_with_another_key_is_a_forgery() -> None:
    token = ratinglinks.issue(ratinglinks.link_key("other"), incident_id=INC, nonce=N2, expires_at=NOW + timedelta(1))
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, token, now=NOW)
    assert err.value.reason == "signature"


def test_a_tampered_payload_fails_the_signature() -> None:
    token = ratinglinks.issue(KEY, incident_id=INC, nonce=N2, expires_at=NOW + timedelta(days=1))
    other = ratinglinks.issue(KEY, incident_id=INC2, nonce=N2, expires_at=NOW + timedelta(days=1))
    forged = other[:48] + token[48:]  # another incident's claims under this token's signature
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, forged, now=NOW)
    assert err.value.reason == "signature"


def test_an_expired_link_is_refused() -> None:
    token = ratinglinks.issue(KEY, incident_id=INC, nonce=N2, expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, token, now=NOW)
    assert err.value.reason == "expired"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "x" * 2000, "A" * 70])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(ratinglinks.InvalidLink):
        ratinglinks.verify(KEY, token, now=NOW)


def test_a_token_is_short_enough_for_an_sms() -> None:
    token = ratinglinks.issue(KEY, incident_id=INC, nonce=N1, expires_at=NOW)
    assert len(token) == 70 and ratinglinks.read(token).expires_at == NOW


def test_an_explicit_secret_wins_over_the_jwt_secret() -> None:
    assert ratinglinks.link_key("jwt", "explicit") != ratinglinks.link_key("jwt")
    assert ratinglinks.link_key("a", "explicit") == ratinglinks.link_key("b", "explicit")
