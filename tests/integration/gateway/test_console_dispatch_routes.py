"""The dispatcher's routes (console/dispatch.py) on the real gateway and the real dispatch api:
only dispatchers, supervisors and admins get the plan or dispatch (403 for the others, before any
upstream call), an override without a reason is refused, and dispatch's own answers come through.
The journeys with the event stream (recommendations of a reported incident, accept, override,
timeline) are in tests/e2e/test_console_dispatcher.py on the whole city."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from cityops_platform import auth


def _headers(stack: Any, role: str) -> dict[str, str]:
    s = stack.settings
    codec = auth.TokenCodec(s.jwt_secret, issuer=s.jwt_issuer, audience=s.jwt_audience)
    return {"Authorization": f"Bearer {codec.issue(f'it-{role}', [role], ttl_seconds=600)}"}


@pytest.fixture(scope="module")
def stack(gateway_stack: Any) -> Any:
    if "dispatch" not in gateway_stack.apis:
        pytest.fail("cityops-dispatch is not installed: the dispatcher's routes need the real service")
    return gateway_stack


@pytest.mark.parametrize("role", ["call_taker", "citizen", "operator", "field_unit"])
def test_other_roles_get_403_on_the_plan_and_on_dispatch(stack: Any, role: str) -> None:
    incident = str(uuid.uuid4())
    plan = httpx.get(f"{stack.gateway_url}/api/incidents/{incident}/dispatch-plan", headers=_headers(stack, role),
                     timeout=10)
    assert plan.status_code == 403, plan.text
    assert plan.json()["error"]["code"] == "permission_denied"
    sent = httpx.post(f"{stack.gateway_url}/api/incidents/{incident}/dispatch", headers=_headers(stack, role),
                      json={"unit_id": "bd-114-tdm-01"}, timeout=10)
    assert sent.status_code == 403, sent.text


def test_no_token_is_401(stack: Any) -> None:
    r = httpx.get(f"{stack.gateway_url}/api/incidents/{uuid.uuid4()}/dispatch-plan", timeout=10)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("role", ["dispatcher", "supervisor"])
def test_dispatchers_reach_dispatch_which_answers_not_found_for_an_unknown_incident(stack: Any, role: str) -> None:
    incident = str(uuid.uuid4())
    plan = httpx.get(f"{stack.gateway_url}/api/incidents/{incident}/dispatch-plan", headers=_headers(stack, role),
                     timeout=10)
    assert plan.status_code == 404, plan.text
    sent = httpx.post(f"{stack.gateway_url}/api/incidents/{incident}/dispatch", headers=_headers(stack, role),
                      json={"unit_id": "bd-114-tdm-01", "recommended_unit_id": "bd-114-tdm-01"}, timeout=10)
    assert sent.status_code == 404, sent.text


def test_an_override_without_a_reason_is_400_naming_the_field(stack: Any) -> None:
    r = httpx.post(f"{stack.gateway_url}/api/incidents/{uuid.uuid4()}/dispatch", headers=_headers(stack, "dispatcher"),
                   json={"unit_id": "bd-114-tdm-02", "recommended_unit_id": "bd-114-tdm-01", "override_reason": " "},
                   timeout=10)
    assert r.status_code == 400, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == ["override_reason"]
