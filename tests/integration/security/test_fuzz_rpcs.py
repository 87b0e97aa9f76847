"""Hypothesis-generated requests for EVERY RPC of the four services, against the real apis.

Whatever arrives, a service answers OK or a client error: INVALID_ARGUMENT, NOT_FOUND,
FAILED_PRECONDITION, ALREADY_EXISTS (and PERMISSION_DENIED where a domain rule refuses a role).
Never INTERNAL, UNKNOWN, UNAVAILABLE, or a hang. ``CITYOPS_FUZZ_EXAMPLES`` sets the examples per
RPC (25 in CI; 10 000 in the nightly run).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops_devtools.testing import load_by_path

protofuzz = load_by_path("cityops_test_protofuzz", Path(__file__).with_name("protofuzz.py"))

EXAMPLES = int(os.environ.get("CITYOPS_FUZZ_EXAMPLES", "25"))
CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
}
# Domain rules that refuse some roles after the interceptor let them in (e.g. a citizen may only
# report through the app and only subscribe to their own report).
DOMAIN_DENIALS = {
    ("incidents", "ReportIncident"),
    ("notifications", "CreateSubscription"),
    ("notifications", "ListSubscriptions"),
    ("notifications", "DeleteSubscription"),
    # Object-level authorization (docs/security.md): a field unit acts on its own unit only, a sensor
    # gateway on its own sensors, a CAD on the incidents it created (and with its own rights when
    # ImportEido calls incidents on its behalf); unbound tokens are refused.
    ("dispatch", "UpdateUnitStatus"),
    ("dispatch", "StreamLocations"),
    ("dispatch", "AcknowledgeAssignment"),
    ("dispatch", "ImportEido"),
    ("incidents", "AddNote"),  # a field unit notes only its unit's incidents, a CAD only what it reported
    ("sensors", "RegisterSensor"),
    ("sensors", "IngestReadings"),
}
SERVICES = ("incidents", "dispatch", "sensors", "notifications")


def _rpcs() -> list[tuple[str, str]]:
    import importlib

    out = []
    for service in SERVICES:
        server = importlib.import_module(f"cityops_{service}.server")
        proto = importlib.import_module(f"cityops.{service}.v1.{service}_pb2")
        descriptor = next(s for s in proto.DESCRIPTOR.services_by_name.values() if s.full_name == server.SERVICE)
        out.extend((service, m.name) for m in descriptor.methods)
    return out


RPCS = _rpcs()


def test_the_fuzzer_covers_every_rpc_of_the_four_services() -> None:
    assert len(RPCS) >= 41
    assert {s for s, _ in RPCS} == set(SERVICES)


# The apis run in this process and use `random` while Hypothesis draws; it then warns about
# `random` inside strategies, which ours do not use.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.parametrize(("service", "rpc"), RPCS, ids=[f"{s}.{m}" for s, m in RPCS])
def test_generated_requests_get_only_ok_or_client_errors(host, figures, service: str, rpc: str) -> None:  # type: ignore[no-untyped-def]
    api = host.apis[service]
    method = api.descriptor.methods_by_name[rpc]
    roles = sorted(api.policy.allowed_roles(api.path(method)))
    assert roles, f"{rpc} is open to no role"
    allowed = set(CLIENT_ERRORS)
    if (service, rpc) in DOMAIN_DENIALS:
        allowed.add(grpc.StatusCode.PERMISSION_DENIED)
    seen: Counter[str] = Counter()
    tokens = {role: host.token([role], f"fuzz-{role}") for role in roles}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 100,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(request=protofuzz.requests(method), role=st.sampled_from(roles))
    def check(request: object, role: str) -> None:
        code = host.invoke(service, method, request, metadata=(("authorization", f"Bearer {tokens[role]}"),),
                           timeout=15.0, stream_wait=0.3)
        seen[code.name] += 1
        assert code in allowed, f"{service}.{rpc} as {role} → {code.name} for {request!r:.2000}"

    check()
    figures.append(f"fuzz {service}.{rpc}: {sum(seen.values())} inputs, {dict(seen)}")
