"""schemathesis against /openapi.json of the running gateway: no generated request may produce a
server error, and every response must match the documented status codes and schemas."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cityops_platform import auth

# /api/events never ends (a live stream): it is covered by the unit and e2e tests instead.
# /readyz answers 503 by design while an api this module did not start (notifications) is missing; its
# readiness logic is covered against real servers in tests/integration/platform/test_grpc_balancing.py.
EXCLUDED_PATHS = ["/api/events", "/readyz"]
# Console routes backed by a service this module did not start are excluded, not faked.
SERVICE_PATHS = {"dispatch": ["/api/units", "/api/incidents/{incident_id}/recommendations",
                              "/api/incidents/{incident_id}/assignments",
                              "/api/incidents/{incident_id}/dispatch-plan", "/api/incidents/{incident_id}/dispatch"],
                 "sensors": ["/api/sensors", "/api/sensors/alerts"]}


@pytest.fixture(scope="module")
def gateway_schema(gateway_stack: Any) -> Any:
    schema = schemathesis.openapi.from_url(f"{gateway_stack.gateway_url}/openapi.json")
    excluded = list(EXCLUDED_PATHS)
    for service, paths in SERVICE_PATHS.items():
        if service not in gateway_stack.apis:
            excluded += paths
    return schema.exclude(path=excluded)


@pytest.fixture(scope="module")
def supervisor_headers(gateway_stack: Any) -> dict[str, str]:
    s = gateway_stack.settings
    codec = auth.TokenCodec(s.jwt_secret, issuer=s.jwt_issuer, audience=s.jwt_audience)
    return {"Authorization": f"Bearer {codec.issue('schemathesis', ['supervisor'])}"}


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _exerciser(operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> Any:
    """A Hypothesis test that calls one operation with generated requests and runs the checks."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def exercise(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=15)

    return exercise


# schemathesis' own pytest plugin does not work with pytest 9 yet (it reads Function._nodeid),
# so every operation is driven through its Hypothesis strategy directly; that is its documented
# "use with @given in non-Schemathesis tests" API.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    gateway_schema: Any, gateway_stack: Any, supervisor_headers: dict[str, str], mode: GenerationMode
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    assert len(operations) >= 15, "the OpenAPI document lost operations"
    for operation in operations:
        headers = dict(supervisor_headers) if operation.path.startswith("/api/") else {}
        try:
            _exerciser(operation, mode, gateway_stack.gateway_url, headers)()
        except Unsatisfiable:
            continue  # nothing to negate: the operation takes no input (e.g. GET /healthz)
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
