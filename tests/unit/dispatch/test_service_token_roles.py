"""dispatch's own service token carries only what its reads need; the EIDO import's changes carry the
importing caller's token (on behalf of it), never dispatch's."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from cityops_dispatch.eido import incidents_client as client
from cityops_incidents.incidents.service import OVERRIDE_ROLES
from cityops_incidents.server import POLICY, SERVICE
from cityops_platform import auth

CLIENT_SOURCE = Path(client.__file__).read_text(encoding="utf-8")
CHANGES = ("report", "transition", "add_note")


def _methods_called() -> set[str]:
    """Every IncidentService method the client calls (``self._stub.<Method>(``), read from its source."""
    tree = ast.parse(CLIENT_SOURCE)
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "_stub"
    }


def test_the_token_carries_no_admin_supervisor_or_operator_role() -> None:
    assert not {"admin", "supervisor", "operator", "dispatcher"} & set(client.ROLES)
    assert set(client.ROLES) <= auth.ALL_ROLES


def test_the_service_token_reads_but_may_not_transition_or_override_priorities() -> None:
    principal = auth.Principal(subject=client.SUBJECT, roles=frozenset(client.ROLES))
    assert _methods_called() == {"ReportIncident", "GetIncident", "TransitionIncident", "AddNote"}
    POLICY.check(f"/{SERVICE}/GetIncident", principal)  # raises AccessDenied when a role is missing
    try:
        POLICY.check(f"/{SERVICE}/TransitionIncident", principal)
    except auth.AccessDenied:
        pass
    else:
        raise AssertionError("dispatch's own token may transition incidents")
    assert not principal.has_any(OVERRIDE_ROLES)


def test_every_change_requires_the_caller_it_is_made_for() -> None:
    for name in CHANGES:
        param = inspect.signature(getattr(client.IncidentsClient, name)).parameters["on_behalf_of"]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY
        assert param.default is inspect.Parameter.empty, name  # no silent fallback to dispatch's token


def test_a_change_carries_the_callers_own_token() -> None:
    codec = auth.TokenCodec("k" * 32)
    caller = codec.verify(codec.issue("svc-cad-hcm", ["integrator"], bindings={"cad_id": "cad-hcm"}))
    incidents = client.IncidentsClient.__new__(client.IncidentsClient)
    incidents._tokens = codec
    metadata = dict(incidents._metadata(caller))
    assert metadata["authorization"] == f"Bearer {caller.token}"
    own = codec.verify(dict(incidents._metadata(None))["authorization"].split(" ", 1)[1])
    assert own.subject == client.SUBJECT and own.roles == frozenset(client.ROLES)
