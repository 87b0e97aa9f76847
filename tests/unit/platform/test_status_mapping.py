from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2

from cityops_platform import errors
from cityops_platform.grpc.status import code_for, is_infrastructure_error, to_rpc_status


def test_validation_failure_carries_bad_request_field_violations() -> None:
    exc = errors.ValidationFailed([errors.FieldViolation("location.lat", "ngoài vùng phục vụ")])
    status = to_rpc_status(exc)
    assert status.code == code_pb2.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [("location.lat", "ngoài vùng phục vụ")]


def test_domain_errors_map_to_their_codes() -> None:
    assert code_for(errors.NotFound("incident", "x")) == grpc.StatusCode.NOT_FOUND
    assert code_for(errors.IllegalTransition("incident", "NEW", "CLOSED")) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_for(errors.StaleVersion(1, 2)) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_for(errors.Unavailable("db")) == grpc.StatusCode.UNAVAILABLE
    assert code_for(errors.AlreadyExists("x")) == grpc.StatusCode.ALREADY_EXISTS


def test_dependency_failures_are_infrastructure_errors_but_bugs_are_not() -> None:
    assert is_infrastructure_error(ConnectionRefusedError())
    assert is_infrastructure_error(TimeoutError())
    assert not is_infrastructure_error(KeyError("x"))
    assert not is_infrastructure_error(ValueError("x"))


def test_postgres_going_away_mid_statement_is_a_dependency_failure_not_a_bug() -> None:
    from asyncpg import exceptions as pg

    # Seen in S3 (Postgres killed under load): the driver's state error escaped as INTERNAL.
    assert is_infrastructure_error(pg.InternalClientError("cannot switch to state 12"))
    assert is_infrastructure_error(pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert is_infrastructure_error(pg.AdminShutdownError("terminating connection due to administrator command"))
    assert is_infrastructure_error(pg.CannotConnectNowError("the database system is starting up"))
    assert is_infrastructure_error(pg.TooManyConnectionsError("sorry, too many clients already"))
    assert is_infrastructure_error(pg.DeadlockDetectedError("deadlock detected"))
    assert is_infrastructure_error(pg.InterfaceError("cannot perform operation: another operation is in progress"))
    # The caller's data or our own SQL are not.
    assert not is_infrastructure_error(pg.UniqueViolationError("duplicate key"))
    assert not is_infrastructure_error(pg.UndefinedColumnError("column x does not exist"))
    assert not is_infrastructure_error(pg.InvalidTextRepresentationError("bad input"))


def test_require_raises_only_when_violations_exist() -> None:
    errors.require([])
    try:
        errors.require([errors.FieldViolation("a", "b")])
    except errors.ValidationFailed as exc:
        assert exc.violations[0].field == "a"
    else:
        raise AssertionError("require must raise")
