"""Error texts quote the caller's input, so they are clipped to fit gRPC trailers (8 KiB);
values Postgres itself refuses become INVALID_ARGUMENT, not INTERNAL."""

from __future__ import annotations

import asyncpg
from google.rpc import code_pb2

from cityops_platform import errors
from cityops_platform.grpc.status import (
    MAX_MESSAGE_CHARS,
    MAX_VIOLATIONS,
    bad_data_status,
    is_bad_data_error,
    is_infrastructure_error,
    to_rpc_status,
)


def test_a_not_found_quoting_a_huge_id_stays_small() -> None:
    status = to_rpc_status(errors.NotFound("sự cố (incident)", "x" * 100_000))
    assert status.code == code_pb2.NOT_FOUND
    assert len(status.message) == MAX_MESSAGE_CHARS and status.message.endswith("…")
    assert len(status.SerializeToString()) < 4096


def test_many_long_violations_are_clipped() -> None:
    violations = [errors.FieldViolation("f" * 1000, "d" * 10_000) for _ in range(100)]
    status = to_rpc_status(errors.ValidationFailed(violations))
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert len(status.SerializeToString()) < 6000
    assert len(status.details) == 1
    from google.rpc import error_details_pb2

    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    assert len(bad.field_violations) == MAX_VIOLATIONS


def test_postgres_data_errors_are_bad_input_not_outages() -> None:
    exc = asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding \"UTF8\": 0x00")
    assert is_bad_data_error(exc) and not is_infrastructure_error(exc)
    assert bad_data_status(exc).code == code_pb2.INVALID_ARGUMENT
    assert not is_bad_data_error(asyncpg.exceptions.UniqueViolationError("dup"))
    assert not is_bad_data_error(ValueError("x"))
