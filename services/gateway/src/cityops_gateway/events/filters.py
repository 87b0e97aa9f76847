"""Which live events each role may see on ``/api/events``, and how many streams a token may hold.

The table is the policy (docs/console.md repeats it). A principal with several roles sees the
union of its roles' kinds; a principal whose roles have no entry gets 403: citizens, field
units, sensor gateways and integrators have their own APIs and no operations stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from cityops_platform.auth import Role

# role -> event kinds (the ``kind`` of events.decode.STREAMS) it receives.
ROLE_EVENT_KINDS: dict[str, frozenset[str]] = {
    Role.CALL_TAKER.value: frozenset({"incident"}),
    Role.OPERATOR.value: frozenset({"incident", "dispatch", "unit", "alert"}),
    Role.DISPATCHER.value: frozenset({"incident", "dispatch", "unit", "alert"}),
    Role.SUPERVISOR.value: frozenset({"incident", "dispatch", "unit", "alert"}),
    Role.ADMIN.value: frozenset({"incident", "dispatch", "unit", "alert"}),
}
# Control events every allowed subscriber gets (they carry no data).
CONTROL_KINDS: frozenset[str] = frozenset({"resync"})
# Roles that may open the console's read views (KPIs); the same staff roles.
CONSOLE_ROLES: frozenset[str] = frozenset(ROLE_EVENT_KINDS)


def allowed_kinds(roles: Iterable[str]) -> frozenset[str]:
    """The union of the roles' event kinds (empty = no stream at all)."""
    kinds: frozenset[str] = frozenset()
    for role in roles:
        kinds |= ROLE_EVENT_KINDS.get(role, frozenset())
    return kinds


class StreamLimiter:
    """Counts open streams per key (a token's subject and id) and refuses past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, key: str) -> bool:
        if self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    def release(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]
