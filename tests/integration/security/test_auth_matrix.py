"""Every RPC of every service × {no token, expired, bad signature, malformed, each of the 9 roles}.

The expected outcome comes from each service's POLICY (deny by default: an RPC missing from the
policy is refused to everyone) and, for the sensitive RPCs, ALSO from the table written here by
hand, so loosening a policy fails this test. Every denial must reach the ``cityops.audit`` log.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter

import grpc
import pytest
from google.protobuf import message_factory

from cityops_platform.auth import ALL_ROLES

# Who may call the RPCs that change state a person relies on, or expose operational data.
# Changing any of these is a security decision: update this table in the same review.
SENSITIVE: dict[tuple[str, str], set[str]] = {
    ("incidents", "TransitionIncident"): {"operator", "dispatcher", "supervisor", "admin"},
    ("incidents", "GetIncident"): {"call_taker", "operator", "dispatcher", "supervisor", "admin", "integrator"},
    ("incidents", "ListIncidents"): {"call_taker", "operator", "dispatcher", "supervisor", "admin", "integrator"},
    ("incidents", "WatchIncidents"): {"call_taker", "operator", "dispatcher", "supervisor", "admin", "integrator"},
    ("incidents", "ReportIncident"): {"citizen", "call_taker", "operator", "supervisor", "integrator", "admin"},
    ("incidents", "SplitReport"): {"operator", "supervisor", "admin"},
    ("incidents", "ReopenIncident"): {"citizen", "operator", "supervisor", "admin"},
    ("incidents", "RateIncident"): {"citizen", "integrator"},
    ("incidents", "ListReports"): {"call_taker", "operator", "dispatcher", "supervisor", "admin"},
    ("dispatch", "RegisterUnit"): {"supervisor", "admin"},
    ("dispatch", "AssignUnit"): {"dispatcher", "supervisor", "admin"},
    ("dispatch", "CancelAssignment"): {"dispatcher", "supervisor", "admin"},
    ("dispatch", "ImportEido"): {"integrator", "supervisor", "admin"},
    ("dispatch", "StreamLocations"): {"field_unit", "admin"},
    ("sensors", "IngestReadings"): {"admin", "integrator", "sensor_gateway"},
    ("sensors", "PutRule"): {"admin", "supervisor"},
    ("sensors", "DeleteRule"): {"admin", "supervisor"},
    ("notifications", "DraftAlert"): {"supervisor", "admin"},
    ("notifications", "ApproveAlert"): {"supervisor", "admin"},
    ("notifications", "CancelAlert"): {"supervisor", "admin"},
    ("notifications", "UpdateAlert"): {"supervisor", "admin"},
    ("notifications", "ReplayDelivery"): {"operator", "supervisor", "admin"},
}
# Never, whatever the policy says: citizens read nothing operational; sensor gateways write readings only.
NEVER: dict[str, set[str]] = {
    "citizen": {"GetIncident", "ListIncidents", "GetTimeline", "WatchIncidents", "FindNearbyIncidents", "ListUnits",
                "ListReports", "SplitReport", "GetSatisfactionReport",
                "GetUnit", "AssignUnit", "DraftAlert", "ApproveAlert", "PutRule", "ListSensors"},
    "sensor_gateway": {"ReportIncident", "TransitionIncident", "AssignUnit", "PutRule", "DeleteRule", "DraftAlert"},
}
OTHER_SECRET = "an-attacker-who-does-not-know-the-real-secret!"
UNAUTHENTICATED_CASES = ("none", "expired", "bad_signature", "malformed", "basic_scheme")


def _metadata(host: object, case: str, subject: str) -> tuple[tuple[str, str], ...]:
    if case == "none":
        return ()
    if case == "expired":
        return (("authorization", f"Bearer {host.token(['admin'], subject, ttl=-120)}"),)  # type: ignore[attr-defined]
    if case == "bad_signature":
        return (("authorization", f"Bearer {host.token(['admin'], subject, secret=OTHER_SECRET)}"),)  # type: ignore[attr-defined]
    if case == "malformed":
        return (("authorization", "Bearer not.a.jwt"),)
    if case == "basic_scheme":
        return (("authorization", "Basic YWRtaW46YWRtaW4="),)
    return (("authorization", f"Bearer {host.token([case], subject)}"),)  # type: ignore[attr-defined]


def _denials(records: list[logging.LogRecord], method: str) -> list[logging.LogRecord]:
    return [r for r in records if getattr(r, "audit", None) == "access_denied" and getattr(r, "method", None) == method]


@pytest.mark.parametrize("service", ["incidents", "dispatch", "sensors", "notifications"])
def test_every_rpc_answers_each_identity_exactly_as_the_policy_says_and_audits_denials(
    host, audit_log, figures, service: str  # type: ignore[no-untyped-def]
) -> None:
    api = host.apis[service]
    outcomes: Counter[str] = Counter()
    for method in api.descriptor.methods:
        path = api.path(method)
        allowed = api.policy.allowed_roles(path)
        if (service, method.name) in SENSITIVE:
            assert set(allowed) == SENSITIVE[(service, method.name)], f"policy of {path} changed: {sorted(allowed)}"
        for role, forbidden in NEVER.items():
            assert not (method.name in forbidden and role in allowed), f"{role} must never call {path}"
        empty = message_factory.GetMessageClass(method.input_type)()
        request = [] if method.client_streaming else empty
        for case in (*UNAUTHENTICATED_CASES, *sorted(ALL_ROLES)):
            subject = f"matrix-{case}-{uuid.uuid4().hex[:8]}"
            before = len(_denials(audit_log.records, path))
            code = host.invoke(service, method, request, metadata=_metadata(host, case, subject), stream_wait=0.3)
            new = _denials(audit_log.records, path)[before:]
            if case in UNAUTHENTICATED_CASES:
                expected, audited_subject = grpc.StatusCode.UNAUTHENTICATED, None
            elif case in allowed:
                expected, audited_subject = None, None
            else:
                expected, audited_subject = grpc.StatusCode.PERMISSION_DENIED, subject
            if expected is None:
                # Allowed: past the interceptor. The empty request may still be refused by the rules
                # (INVALID_ARGUMENT, NOT_FOUND...), but never as an authentication/authorization failure.
                assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL,
                                    grpc.StatusCode.UNKNOWN), f"{path} as {case}: {code}"
                assert not new, f"{path} as {case} was audited as denied"
                outcomes["allowed"] += 1
                continue
            assert code == expected, f"{path} with {case}: expected {expected.name}, got {code.name}"
            assert len(new) == 1, f"{path} with {case}: {len(new)} audit records"
            assert new[0].code == expected.name  # type: ignore[attr-defined]
            assert new[0].subject == audited_subject  # type: ignore[attr-defined]
            assert new[0].levelno >= logging.WARNING
            outcomes[expected.name] += 1
    methods = len(api.descriptor.methods)
    assert sum(outcomes.values()) == methods * (len(UNAUTHENTICATED_CASES) + len(ALL_ROLES))
    assert outcomes["UNAUTHENTICATED"] == methods * len(UNAUTHENTICATED_CASES)
    figures.append(f"auth matrix {service}: {methods} RPCs × {len(UNAUTHENTICATED_CASES) + len(ALL_ROLES)} identities, "
                   f"{dict(outcomes)}; {outcomes['UNAUTHENTICATED'] + outcomes['PERMISSION_DENIED']} denials audited")


def test_a_token_with_only_unknown_roles_is_denied_and_audited(host, audit_log) -> None:  # type: ignore[no-untyped-def]
    from jwt import encode

    api = host.apis["incidents"]
    method = api.descriptor.methods_by_name["ListIncidents"]
    import time

    now = int(time.time())
    token = encode({"sub": "forged-roles", "roles": ["root", "superuser"], "iss": host.settings.jwt_issuer,
                    "aud": host.settings.jwt_audience, "iat": now, "exp": now + 60}, host.settings.jwt_secret,
                   algorithm="HS256")
    code = host.invoke("incidents", method, message_factory.GetMessageClass(method.input_type)(),
                       metadata=(("authorization", f"Bearer {token}"),))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert [r.subject for r in _denials(audit_log.records, api.path(method))] == ["forged-roles"]  # type: ignore[attr-defined]


def test_an_alg_none_token_is_unauthenticated(host, audit_log) -> None:  # type: ignore[no-untyped-def]
    import base64
    import json
    import time

    def b64(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "alg-none", "roles": ["admin"], "iss": host.settings.jwt_issuer, "aud": host.settings.jwt_audience,
              "iat": now, "exp": now + 60}
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    api = host.apis["dispatch"]
    method = api.descriptor.methods_by_name["AssignUnit"]
    code = host.invoke("dispatch", method, message_factory.GetMessageClass(method.input_type)(),
                       metadata=(("authorization", f"Bearer {token}"),))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert len(_denials(audit_log.records, api.path(method))) == 1
