"""dispatch's service token (EIDO import → incidents) carries only the roles its calls need, never admin."""

from __future__ import annotations

import ast
from pathlib import Path

from cityops_dispatch.eido import incidents_client as client
from cityops_incidents.incidents.service import OVERRIDE_ROLES
from cityops_incidents.server import POLICY, SERVICE
from cityops_platform import auth

CLIENT_SOURCE = Path(client.__file__).read_text(encoding="utf-8")


def _methods_called() -> set[str]:
    """Every IncidentService method the client calls (``self._stub.<Method>(``), read from its source."""
    tree = ast.parse(CLIENT_SOURCE)
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "_stub"
    }


def test_the_token_carries_no_admin_or_supervisor_role() -> None:
    assert not {"admin", "supervisor"} & set(client.ROLES)
    assert set(client.ROLES) <= auth.ALL_ROLES


def test_every_call_of_the_client_is_allowed_by_the_incidents_policy() -> None:
    principal = auth.Principal(subject=client.SUBJECT, roles=frozenset(client.ROLES))
    methods = _methods_called()
    assert methods == {"ReportIncident", "GetIncident", "TransitionIncident", "AddNote"}
    for method in methods:
        POLICY.check(f"/{SERVICE}/{method}", principal)  # raises AccessDenied when a role is missing
    # An imported EIDO may carry its priority (when the CAD may override; access checked in dispatch).
    assert principal.has_any(OVERRIDE_ROLES)


def test_each_role_is_needed() -> None:
    """Dropping any one role breaks a call the import makes: the set is minimal."""
    methods = _methods_called()
    for role in client.ROLES:
        rest = frozenset(r for r in client.ROLES if r != role)
        principal = auth.Principal(subject=client.SUBJECT, roles=rest)
        denied = []
        for method in methods:
            try:
                POLICY.check(f"/{SERVICE}/{method}", principal)
            except auth.AccessDenied:
                denied.append(method)
        assert denied or not principal.has_any(OVERRIDE_ROLES), role
