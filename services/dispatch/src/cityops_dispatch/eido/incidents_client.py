"""The incidents service as dispatch sees it: a gRPC client with a deadline on every call."""

from __future__ import annotations

from typing import Protocol

import grpc

from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_platform import auth
from cityops_platform.errors import (
    DomainError,
    FieldViolation,
    NotFound,
    PreconditionFailed,
    Unavailable,
    ValidationFailed,
)
from cityops_platform.grpc.client import call_timeout, create_channel, outbound_metadata
from cityops_platform.settings import Settings, get_settings

SUBJECT = "svc-dispatch"
# Least privilege for the EIDO import path (never "admin"): "operator" alone covers every call the
# import makes (ReportIncident, GetIncident, TransitionIncident, AddNote) and lets an imported EIDO carry
# its priority (the override rule; dispatch passes a priority on only for a CAD allowed to override).
# tests/unit/dispatch/test_service_token_roles.py checks the set against the incidents policy.
ROLES = ("operator",)


class Incidents(Protocol):
    async def report(self, request: incidents_pb2.ReportIncidentRequest) -> incidents_pb2.ReportIncidentResponse: ...

    async def transition(self, incident_id: str, to_status: int, reason: str) -> incidents_pb2.Incident: ...

    async def add_note(self, incident_id: str, text: str) -> incidents_pb2.Incident: ...

    async def get(self, incident_id: str) -> incidents_pb2.Incident: ...


def translate(exc: grpc.aio.AioRpcError, what: str) -> DomainError:
    """A failed call to incidents → the domain error our caller should see."""
    code = exc.code()
    detail = exc.details() or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationFailed([FieldViolation("json", f"incidents từ chối (incidents refused): {detail}")])
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound("sự cố (incident)", what)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return PreconditionFailed(detail)
    return Unavailable(f"Dịch vụ sự cố không phản hồi (incidents unavailable): {code.name}")


class IncidentsClient:
    """Calls IncidentService with a service token and a deadline per call: ``timeout_s``, shortened
    to what is left of the RPC being served (so ImportEido never outlives its caller)."""

    def __init__(
        self, *, addr: str, tokens: auth.TokenCodec, timeout_s: float, settings: Settings | None = None
    ) -> None:
        # TLS/mTLS when the settings configure it (CITYOPS_GRPC_TLS_SERVER_CA); plaintext otherwise.
        self._channel = create_channel(addr, settings or get_settings())
        self._stub = incidents_pb2_grpc.IncidentServiceStub(self._channel)
        self._tokens = tokens
        self._timeout = timeout_s

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return outbound_metadata(self._tokens.issue(SUBJECT, ROLES, ttl_seconds=300))

    async def report(self, request: incidents_pb2.ReportIncidentRequest) -> incidents_pb2.ReportIncidentResponse:
        try:
            response: incidents_pb2.ReportIncidentResponse = await self._stub.ReportIncident(
                request, timeout=call_timeout(self._timeout), metadata=self._metadata()
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, request.idempotency_key) from exc
        return response

    async def transition(self, incident_id: str, to_status: int, reason: str) -> incidents_pb2.Incident:
        """Transitions need the version they are based on: read it, then move. A change in between
        is a stale version (FAILED_PRECONDITION → PreconditionFailed), which the import reports."""
        try:
            seen: incidents_pb2.Incident = await self._stub.GetIncident(
                incidents_pb2.GetIncidentRequest(id=incident_id), timeout=call_timeout(self._timeout),
                metadata=self._metadata(),
            )
            request = incidents_pb2.TransitionIncidentRequest(
                id=incident_id, to_status=to_status, reason=reason, expected_version=seen.version  # type: ignore[arg-type]
            )
            incident: incidents_pb2.Incident = await self._stub.TransitionIncident(
                request, timeout=call_timeout(self._timeout), metadata=self._metadata()
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, incident_id) from exc
        return incident

    async def add_note(self, incident_id: str, text: str) -> incidents_pb2.Incident:
        try:
            incident: incidents_pb2.Incident = await self._stub.AddNote(
                incidents_pb2.AddNoteRequest(id=incident_id, text=text), timeout=call_timeout(self._timeout),
                metadata=self._metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, incident_id) from exc
        return incident

    async def get(self, incident_id: str) -> incidents_pb2.Incident:
        """The incident as the incidents service holds it now (NotFound when it has none)."""
        try:
            incident: incidents_pb2.Incident = await self._stub.GetIncident(
                incidents_pb2.GetIncidentRequest(id=incident_id), timeout=call_timeout(self._timeout),
                metadata=self._metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:  # not a UUID: no such incident anywhere
                raise NotFound("sự cố (incident)", incident_id) from exc
            raise translate(exc, incident_id) from exc
        return incident

    async def close(self) -> None:
        await self._channel.close()
