"""Object-level authorization for sensor gateways: a ``sensor_gateway`` credential is bound to one
gateway id (the token's ``gateway_id`` claim, ``cityops dev-token --gateway-id G``).

A sensor registered by a gateway belongs to it: another gateway may not re-register (move,
re-kind) it, nor send readings for it. Sensors registered by staff or integrations have no owner
and no gateway may touch them. A gateway token without the claim is refused. Supervisors,
integrators and admins are not bound. See docs/security.md.
"""

from __future__ import annotations

from cityops_platform import auth
from cityops_platform.auth import Role

UNBOUND_ROLES = frozenset({Role.SUPERVISOR.value, Role.INTEGRATOR.value, Role.ADMIN.value})


def bound_gateway(principal: auth.Principal) -> str | None:
    """The gateway id the caller is limited to, or None when the caller is not limited."""
    return auth.bound_object(
        principal, role=Role.SENSOR_GATEWAY.value, claim="gateway_id", unbound=UNBOUND_ROLES,
        refusal="token sensor_gateway không gắn với cổng nào (claim gateway_id) "
                "(sensor-gateway token is not bound to a gateway)",
    )
