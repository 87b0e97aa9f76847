"""Domain errors. Services raise these; one gRPC interceptor maps them to status codes.

A service's rules never import grpc. They raise, for example, ``IllegalTransition``, and the
client receives FAILED_PRECONDITION with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``location.lat``) and why it is wrong."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error that the caller can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Malformed or out-of-range input: INVALID_ARGUMENT with field violations."""

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(message or f"Dữ liệu không hợp lệ (invalid input): {summary}")
        self.violations = violations


class NotFound(DomainError):
    """The id names nothing: NOT_FOUND."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"Không tìm thấy {kind} '{ident}' ({kind} not found)")
        self.kind = kind
        self.ident = ident


class PreconditionFailed(DomainError):
    """The request is well formed but the state does not allow it: FAILED_PRECONDITION."""


class IllegalTransition(PreconditionFailed):
    """A state machine refused a move."""

    def __init__(self, kind: str, from_state: str, to_state: str) -> None:
        super().__init__(
            f"Không thể chuyển {kind} từ {from_state} sang {to_state} "
            f"(illegal transition {from_state} -> {to_state})"
        )
        self.from_state = from_state
        self.to_state = to_state


class StaleVersion(PreconditionFailed):
    """Optimistic concurrency: the caller's ``expected_version`` is no longer current."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"Phiên bản đã thay đổi: mong đợi {expected}, hiện tại {actual} "
            f"(stale version: expected {expected}, current {actual})"
        )
        self.expected = expected
        self.actual = actual


class AlreadyExists(DomainError):
    """A create with an id that is taken: ALREADY_EXISTS."""


class PermissionDenied(DomainError):
    """The caller is known but may not do this (a rule finer than RBAC): PERMISSION_DENIED."""


class Unavailable(DomainError):
    """A dependency (broker, database) cannot persist right now: UNAVAILABLE, so clients retry."""


def require(violations: list[FieldViolation]) -> None:
    """Raise ``ValidationFailed`` when any violation was collected."""
    if violations:
        raise ValidationFailed(violations)
