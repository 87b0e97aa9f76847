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


# Error text travels in trailing metadata (grpc-message, grpc-status-details-bin), which clients
# cap at 8 KiB: a message echoing a 100 kB id would turn NOT_FOUND into RESOURCE_EXHAUSTED.
MAX_MESSAGE_CHARS = 300
MAX_FIELD_CHARS = 100
MAX_DESCRIPTION_CHARS = 200
MAX_VIOLATIONS = 10


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_rpc_status(exc: errors.DomainError) -> status_pb2.Status:
    """A ``google.rpc.Status`` for the error, with BadRequest details for validation errors.

    Texts are clipped (they may quote the caller's input) so the trailers always fit.
    """
    code = code_for(exc)
    status = status_pb2.Status(code=code.value[0], message=clip(exc.message, MAX_MESSAGE_CHARS))
    if isinstance(exc, errors.ValidationFailed):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=clip(v.field, MAX_FIELD_CHARS), description=clip(v.description, MAX_DESCRIPTION_CHARS)
                    )
                    for v in exc.violations[:MAX_VIOLATIONS]
                ]
            )
        )
        status.details.append(detail)
    return status


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for failures of a dependency (database, broker, network) rather than of our logic.

    These become UNAVAILABLE, which tells clients the write did not happen and may be retried
    (with the same idempotency key). For Postgres that is: the connection lost or refused
    (SQLSTATE class 08), the server shutting down or a statement cancelled by it (57), out of
    resources (53), a system error (58), a transaction rolled back by the server to be retried
    (40: serialization failure, deadlock), and the driver's own state errors after a broken
    connection (``InternalClientError``, e.g. "cannot switch to state 12; another operation is in
    progress" when Postgres died mid-statement, and ``InterfaceError``).
    """
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError, TimeoutError)):
        return True
    module = type(exc).__module__
    if module.startswith(("aiokafka", "kafka")):
        return True
    if module.startswith("asyncpg"):
        from asyncpg import exceptions as pg

        return isinstance(exc, (
            pg.InternalClientError, pg.InterfaceError, pg.PostgresConnectionError, pg.OperatorInterventionError,
            pg.InsufficientResourcesError, pg.PostgresSystemError, pg.TransactionRollbackError,
        ))
    return False


def is_bad_data_error(exc: BaseException) -> bool:
    """True when Postgres refused a value itself (SQLSTATE class 22: a NUL byte in text, a number
    out of range...). Validation should have caught it; it is still the caller's input, not our
    failure, so it becomes INVALID_ARGUMENT rather than INTERNAL."""
    if not type(exc).__module__.startswith("asyncpg"):
        return False
    import asyncpg

    return isinstance(exc, asyncpg.exceptions.DataError)


def bad_data_status(exc: BaseException) -> status_pb2.Status:
    message = (
        "Dữ liệu không hợp lệ: cơ sở dữ liệu từ chối một giá trị (invalid input: a value was refused by the "
        f"database): {type(exc).__name__}"
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
        field="request", description=clip(str(exc), MAX_DESCRIPTION_CHARS))]))
    status.details.append(detail)
    return status


def unavailable_status(exc: BaseException) -> status_pb2.Status:
    return status_pb2.Status(
        code=code_pb2.UNAVAILABLE,
        message=f"Hệ thống tạm thời không lưu được, vui lòng thử lại (temporarily unavailable): "
        f"{type(exc).__name__}",
    )
