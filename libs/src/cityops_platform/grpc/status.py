"""Domain errors → gRPC status, with ``google.rpc.BadRequest`` field violations."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from cityops_platform import errors

_CODES: list[tuple[type[errors.DomainError], grpc.StatusCode]] = [
    (errors.ValidationFailed, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def code_for(exc: errors.DomainError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.FAILED_PRECONDITION


def to_rpc_status(exc: errors.DomainError) -> status_pb2.Status:
    """A ``google.rpc.Status`` for the error, with BadRequest details for validation errors."""
    code = code_for(exc)
    status = status_pb2.Status(code=code.value[0], message=exc.message)
    if isinstance(exc, errors.ValidationFailed):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in exc.violations
                ]
            )
        )
        status.details.append(detail)
    return status


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for failures of a dependency (database, broker, network) rather than of our logic.

    These become UNAVAILABLE, which tells clients the write did not happen and may be retried.
    """
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith(("aiokafka", "kafka")):
        return True
    if module.startswith("asyncpg"):
        # Connection-level failures, not constraint violations (those are domain bugs to map).
        name = type(exc).__name__
        return any(
            word in name
            for word in ("Connection", "Interface", "CannotConnectNow", "AdminShutdown", "TooManyConnections")
        )
    return False


def unavailable_status(exc: BaseException) -> status_pb2.Status:
    return status_pb2.Status(
        code=code_pb2.UNAVAILABLE,
        message=f"Hệ thống tạm thời không lưu được, vui lòng thử lại (temporarily unavailable): "
        f"{type(exc).__name__}",
    )
