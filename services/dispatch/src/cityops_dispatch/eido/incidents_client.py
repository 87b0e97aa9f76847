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
    PermissionDenied,
    PreconditionFailed,
    Unavailable,
    ValidationFailed,
)
from cityops_platform.grpc.client import call_timeout, create_channel, outbound_metadata
from cityops_platform.settings import Settings, get_settings

SUBJECT = "svc-dispatch"
# Dispatch's own token: only for reads (ExportEido reading through to incidents, ``get``). Least
# privilege: "integrator" covers GetIncident and may not transition or set priorities. The EIDO
# import's changes never use it: they carry the importing caller's own token (``on_behalf_of``, a
# required argument), so incidents authorizes them against the CAD's roles.
# tests/unit/dispatch/test_service_token_roles.py checks the set against the incidents policy.
ROLES = ("integrator",)


class Incidents(Protocol):
    async def report(
        self, request: incidents_pb2.ReportIncidentRequest, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.ReportIncidentResponse: ...

    async def transition(
        self, incident_id: str, to_status: int, reason: str, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.Incident: ...

    async def add_note(
        self, incident_id: str, text: str, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.Incident: ...

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
    if code == grpc.StatusCode.PERMISSION_DENIED:  # the caller's own rights refused the change
        return PermissionDenied(f"incidents từ chối quyền (incidents refused): {detail}")
    return Unavailable(f"Dịch vụ sự cố không phản hồi (incidents unavailable): {code.name}")


class IncidentsClient:
    """Calls IncidentService with a deadline per call: ``timeout_s``, shortened to what is left of
    the RPC being served (so ImportEido never outlives its caller). Changes (report, transition,
    note) carry the bearer token of the caller they are made for; reads carry dispatch's own."""

    def __init__(
        self, *, addr: str, tokens: auth.TokenCodec, timeout_s: float, settings: Settings | None = None
    ) -> None:
        # TLS/mTLS when the settings configure it (CITYOPS_GRPC_TLS_SERVER_CA); plaintext otherwise.
        self._channel = create_channel(addr, settings or get_settings())
        self._stub = incidents_pb2_grpc.IncidentServiceStub(self._channel)
        self._tokens = tokens
        self._timeout = timeout_s

    def _metadata(self, on_behalf_of: auth.Principal | None) -> tuple[tuple[str, str], ...]:
        """The caller's own bearer token when acting on its behalf (never widened to ours), else
        dispatch's service token. A principal without its token (not from a verified RPC) is refused."""
        if on_behalf_of is not None:
            if not on_behalf_of.token:
                raise PermissionDenied("không có token của người gọi để chuyển tiếp (no caller token to act with)")
            return outbound_metadata(on_behalf_of.token)
        return outbound_metadata(self._tokens.issue(SUBJECT, ROLES, ttl_seconds=300))

    async def report(
        self, request: incidents_pb2.ReportIncidentRequest, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.ReportIncidentResponse:
        try:
            response: incidents_pb2.ReportIncidentResponse = await self._stub.ReportIncident(
                request, timeout=call_timeout(self._timeout), metadata=self._metadata(on_behalf_of)
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, request.idempotency_key) from exc
        return response

    async def transition(
        self, incident_id: str, to_status: int, reason: str, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.Incident:
        """Transitions need the version they are based on: read it, then move. A change in between
        is a stale version (FAILED_PRECONDITION → PreconditionFailed), which the import reports;
        a caller whose roles may not transition gets PERMISSION_DENIED (PermissionDenied)."""
        metadata = self._metadata(on_behalf_of)
        try:
            seen: incidents_pb2.Incident = await self._stub.GetIncident(
                incidents_pb2.GetIncidentRequest(id=incident_id), timeout=call_timeout(self._timeout),
                metadata=metadata,
            )
            request = incidents_pb2.TransitionIncidentRequest(
                id=incident_id, to_status=to_status, reason=reason, expected_version=seen.version  # type: ignore[arg-type]
            )
            incident: incidents_pb2.Incident = await self._stub.TransitionIncident(
                request, timeout=call_timeout(self._timeout), metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, incident_id) from exc
        return incident

    async def add_note(
        self, incident_id: str, text: str, *, on_behalf_of: auth.Principal
    ) -> incidents_pb2.Incident:
        try:
            incident: incidents_pb2.Incident = await self._stub.AddNote(
                incidents_pb2.AddNoteRequest(id=incident_id, text=text), timeout=call_timeout(self._timeout),
                metadata=self._metadata(on_behalf_of),
            )
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, incident_id) from exc
        return incident

    async def get(self, incident_id: str) -> incidents_pb2.Incident:
        """The incident as the incidents service holds it now (NotFound when it has none)."""
        try:
            incident: incidents_pb2.Incident = await self._stub.GetIncident(
                incidents_pb2.GetIncidentRequest(id=incident_id), timeout=call_timeout(self._timeout),
                metadata=self._metadata(None),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:  # not a UUID: no such incident anywhere
                raise NotFound("sự cố (incident)", incident_id) from exc
            raise translate(exc, incident_id) from exc
        return incident

    async def close(self) -> None:
        await self._channel.close()
