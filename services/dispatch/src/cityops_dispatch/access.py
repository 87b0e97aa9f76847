"""Object-level authorization for field units: a ``field_unit`` credential is bound to one unit.

The token's ``unit_id`` claim names the unit (``cityops dev-token --role field_unit --unit-id U``).
A caller whose only dispatch-relevant role is ``field_unit`` may act only on that unit and on its
own assignments; dispatchers, supervisors and admins act on any unit. A field-unit token without
the claim is refused (PERMISSION_DENIED), never treated as unbound. See docs/security.md.
"""

from __future__ import annotations

from cityops_platform import auth
from cityops_platform.auth import Role
from cityops_platform.errors import PermissionDenied

# Roles that act on every unit; a token holding one of them is not limited to a bound unit.
OVERSEERS = frozenset({Role.DISPATCHER.value, Role.SUPERVISOR.value, Role.ADMIN.value})


def bound_unit(principal: auth.Principal) -> str | None:
    """The unit the caller is limited to, or None when the caller may act on every unit."""
    return auth.bound_object(
        principal, role=Role.FIELD_UNIT.value, claim="unit_id", unbound=OVERSEERS,
        refusal="token field_unit không gắn với đơn vị nào (claim unit_id) (field-unit token is not bound to a unit)",
    )


def check_unit(principal: auth.Principal, unit_id: str) -> None:
    """PERMISSION_DENIED unless the caller may act on ``unit_id``."""
    bound = bound_unit(principal)
    if bound is not None and bound != unit_id:
        raise PermissionDenied(
            f"đơn vị {bound} không được thao tác trên đơn vị khác (unit {bound} may act only on itself)"
        )


# Roles that may update any incident by EIDO import and carry an EIDO's priority (the incidents
# service's priority-override rule: operators, supervisors and admins).
EIDO_OVERSEERS = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
PRIORITY_ROLES = frozenset({Role.OPERATOR.value, Role.SUPERVISOR.value, Role.ADMIN.value})


def cad_identity(principal: auth.Principal) -> str:
    """The external CAD a caller speaks for: its ``cad_id`` claim, else its subject."""
    return principal.binding("cad_id") or principal.subject


def check_eido_update(principal: auth.Principal, creator: str | None) -> None:
    """PERMISSION_DENIED unless the caller may update, by import, an incident created by ``creator``
    (the CAD that imported it; None: not created by any CAD import, e.g. one of ours)."""
    if principal.has_any(EIDO_OVERSEERS):
        return
    if creator is None or creator != cad_identity(principal):
        raise PermissionDenied(
            "CAD này không tạo sự cố đó nên không được cập nhật nó "
            "(this CAD did not create the incident and may not update it)"
        )
