"""The assignment RPCs: proto ⇄ models only; the state machine and transactions are in assignments/service.py."""

from __future__ import annotations

from typing import Any

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.assignments import service
from cityops_dispatch.assignments.models import Actor
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.convert import assignment_pb, required
from cityops_platform import auth
from cityops_platform.errors import require


class AssignmentsRpc:
    """AssignUnit, AcknowledgeAssignment, CancelAssignment, ListAssignments (a part of DispatchServicer)."""

    _pool: asyncpg.Pool
    _engine: AssignmentEngine

    async def AssignUnit(self, request: dispatch_pb2.AssignUnitRequest, context: Any) -> dispatch_pb2.Assignment:  # noqa: N802
        require(required(request.incident_id, "incident_id") + required(request.unit_id, "unit_id"))
        assignment = await service.assign_unit(
            pool=self._pool, engine=self._engine, incident_id=request.incident_id, unit_id=request.unit_id,
            capability=request.capability.strip(), reason=request.reason, actor=Actor.current(),
            recommended_unit_id=request.recommended_unit_id, override_reason=request.override_reason,
            idempotency_key=request.idempotency_key.strip(),
        )
        return assignment_pb(assignment)

    async def AcknowledgeAssignment(  # noqa: N802
        self, request: dispatch_pb2.AcknowledgeAssignmentRequest, context: Any
    ) -> dispatch_pb2.Assignment:
        require(required(request.assignment_id, "assignment_id"))
        return assignment_pb(await service.acknowledge_assignment(
            pool=self._pool, engine=self._engine, principal=auth.current_principal(),
            assignment_id=request.assignment_id, accept=request.accept, reason=request.reason, actor=Actor.current(),
        ))

    async def CancelAssignment(  # noqa: N802
        self, request: dispatch_pb2.CancelAssignmentRequest, context: Any
    ) -> dispatch_pb2.Assignment:
        require(required(request.assignment_id, "assignment_id"))
        assignment = await service.cancel_assignment(
            pool=self._pool, engine=self._engine, assignment_id=request.assignment_id, reason=request.reason,
            actor=Actor.current(),
        )
        return assignment_pb(assignment)

    async def ListAssignments(  # noqa: N802
        self, request: dispatch_pb2.ListAssignmentsRequest, context: Any
    ) -> dispatch_pb2.ListAssignmentsResponse:
        items = await service.list_assignments(
            pool=self._pool, incident_id=request.incident_id, unit_id=request.unit_id, active_only=request.active_only
        )
        return dispatch_pb2.ListAssignmentsResponse(assignments=[assignment_pb(a) for a in items])
