from __future__ import annotations

import pytest

from cityops_platform import auth

SECRET = "unit-test-secret-that-is-long-enough-32"


def codec() -> auth.TokenCodec:
    return auth.TokenCodec(SECRET)


def test_issued_token_verifies_to_its_subject_and_roles() -> None:
    principal = codec().verify(codec().issue("ct-01", ["call_taker"]))
    assert principal.subject == "ct-01"
    assert principal.roles == frozenset({"call_taker"})


def test_expired_token_is_refused() -> None:
    with pytest.raises(auth.AuthError, match="expired"):
        codec().verify(codec().issue("x", ["operator"], ttl_seconds=-1))


def test_token_signed_with_another_key_is_refused() -> None:
    other = auth.TokenCodec("another-secret-that-is-long-enough-0000")
    with pytest.raises(auth.AuthError):
        codec().verify(other.issue("x", ["admin"]))


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer not.a.jwt"])
def test_malformed_authorization_header_is_refused(header: str | None) -> None:
    with pytest.raises(auth.AuthError):
        codec().principal_from_metadata(header)


def test_unknown_role_cannot_be_issued() -> None:
    with pytest.raises(ValueError):
        codec().issue("x", ["mayor"])


def test_policy_denies_unlisted_methods_by_default() -> None:
    policy = auth.AccessPolicy.for_service("pkg.Svc", {"Read": auth.STAFF})
    admin = auth.Principal("a", frozenset({"admin"}))
    policy.check("/pkg.Svc/Read", admin)
    with pytest.raises(auth.AccessDenied):
        policy.check("/pkg.Svc/Write", admin)


def test_policy_denies_roles_not_listed() -> None:
    policy = auth.AccessPolicy.for_service("pkg.Svc", {"Report": ["call_taker"]})
    with pytest.raises(auth.AccessDenied):
        policy.check("/pkg.Svc/Report", auth.Principal("c", frozenset({"citizen"})))


def test_health_and_reflection_are_public() -> None:
    policy = auth.AccessPolicy({})
    assert policy.is_public("/grpc.health.v1.Health/Check")
    assert policy.is_public("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not policy.is_public("/cityops.incidents.v1.IncidentService/GetIncident")


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError):
        auth.TokenCodec("short")
