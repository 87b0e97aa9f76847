"""Signed one-time rating links: round trip, forgery, expiry, malformed input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityops_platform import ratinglinks

KEY = ratinglinks.link_key("jwt-secret")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_link_verifies_with_its_key_and_carries_its_claims() -> None:
    token = ratinglinks.issue(KEY, incident_id="abc", nonce="n1", expires_at=NOW + timedelta(days=1))
    link = ratinglinks.verify(KEY, token, now=NOW)
    assert (link.incident_id, link.nonce) == ("abc", "n1")
    assert ratinglinks.url("http://x/", token) == f"http://x/ratings/{token}"


def test_a_link_signed_with_another_key_is_a_forgery() -> None:
    token = ratinglinks.issue(ratinglinks.link_key("other"), incident_id="abc", nonce="n", expires_at=NOW + timedelta(1))
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, token, now=NOW)
    assert err.value.reason == "signature"


def test_a_tampered_payload_fails_the_signature() -> None:
    token = ratinglinks.issue(KEY, incident_id="abc", nonce="n", expires_at=NOW + timedelta(days=1))
    other = ratinglinks.issue(KEY, incident_id="xyz", nonce="n", expires_at=NOW + timedelta(days=1))
    forged = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, forged, now=NOW)
    assert err.value.reason == "signature"


def test_an_expired_link_is_refused() -> None:
    token = ratinglinks.issue(KEY, incident_id="abc", nonce="n", expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(ratinglinks.InvalidLink) as err:
        ratinglinks.verify(KEY, token, now=NOW)
    assert err.value.reason == "expired"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "x" * 2000])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(ratinglinks.InvalidLink):
        ratinglinks.verify(KEY, token, now=NOW)


def test_an_explicit_secret_wins_over_the_jwt_secret() -> None:
    assert ratinglinks.link_key("jwt", "explicit") != ratinglinks.link_key("jwt")
    assert ratinglinks.link_key("a", "explicit") == ratinglinks.link_key("b", "explicit")
