"""One server interceptor that does, for every RPC, in this order:

1. authentication and RBAC, deny by default (health and reflection are public);
2. RED metrics (count by final code, duration, in flight);
3. error mapping: domain errors → status codes; dependency failures → UNAVAILABLE.

Doing it in one wrapper keeps a single place that understands the four handler shapes. The
server span is not ours: when tracing is on, OpenTelemetry's contrib aio interceptor runs before
this one (``tracing.server_interceptors()``) and owns it; it learns the final status code from
``context.abort``, which is why every refusal and mapped error goes through ``abort``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc_status import rpc_status

from cityops_platform import auth, errors, metrics
from cityops_platform.grpc import client as grpc_client
from cityops_platform.grpc.status import (
    bad_data_status,
    is_bad_data_error,
    is_infrastructure_error,
    to_rpc_status,
    unavailable_status,
)
from cityops_platform.grpc.streams import StreamSlots
from cityops_platform.tracing import current_trace_id

log = logging.getLogger("cityops.grpc")
audit = logging.getLogger("cityops.audit")


class _Outcome:
    """The final status code of one call, filled in as the call ends."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self, policy: auth.AccessPolicy, tokens: auth.TokenCodec, *, max_streams_per_principal: int = 4
    ) -> None:
        self._policy = policy
        self._tokens = tokens
        self._streams = StreamSlots(max_streams_per_principal)
        # The wrapped handler of each method, built once (the call's metadata is read from its
        # context): rebuilding the closures and the handler on every call cost ~0.3 ms.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or self._policy.is_public(method):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap_handler(handler, method, self._policy, self._tokens, self._streams)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, Any]:
    return dict(context.invocation_metadata() or ())


def _wrap_handler(
    handler: grpc.RpcMethodHandler,
    method: str,
    policy: auth.AccessPolicy,
    tokens: auth.TokenCodec,
    streams: StreamSlots | None = None,
) -> grpc.RpcMethodHandler:
    async def before(context: grpc.aio.ServicerContext, outcome: _Outcome, metadata: dict[str, Any]) -> None:
        try:
            principal = tokens.principal_from_metadata(metadata.get("authorization"))
        except auth.AuthError as exc:
            outcome.code = grpc.StatusCode.UNAUTHENTICATED
            _audit_denial(method, None, "UNAUTHENTICATED", str(exc), exc.reason)
            # The reason stays in the audit log and the metric: a caller learns nothing from it.
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, auth.GENERIC_AUTH_MESSAGE)
        try:
            policy.check(method, principal)
        except auth.AccessDenied as exc:
            outcome.code = grpc.StatusCode.PERMISSION_DENIED
            _audit_denial(method, principal, "PERMISSION_DENIED", str(exc), exc.reason)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        auth.set_current_principal(principal)
        # Outbound calls made while serving this RPC inherit what is left of its deadline.
        grpc_client.set_inbound_deadline(context.time_remaining())

    def begin(context: grpc.aio.ServicerContext) -> tuple[_Outcome, float, dict[str, Any]]:
        metrics.GRPC_IN_FLIGHT.labels(method).inc()
        return _Outcome(), time.perf_counter(), _metadata(context)

    async def on_error(exc: Exception, context: grpc.aio.ServicerContext, outcome: _Outcome) -> None:
        """Every error leaves the RPC as an abort with its status: UNKNOWN until mapped (an abort keeps
        the code it was given)."""
        if outcome.code == grpc.StatusCode.OK and not isinstance(exc, grpc.aio.AbortError):
            outcome.code = grpc.StatusCode.UNKNOWN
        if isinstance(exc, grpc.aio.AbortError):
            raise exc
        if isinstance(exc, errors.DomainError):
            status = to_rpc_status(exc)
        elif is_infrastructure_error(exc):
            log.warning("dependency unavailable", extra={"method": method, "error": repr(exc)})
            status = unavailable_status(exc)
        elif is_bad_data_error(exc):
            log.warning("input refused by the database", extra={"method": method, "error": type(exc).__name__})
            status = bad_data_status(exc)
        else:
            # A bug, not bad input: logged with its stack and counted, then reported as INTERNAL.
            metrics.ERRORS_SWALLOWED.labels("grpc_handler").inc()
            log.exception("unhandled error in RPC", extra={"method": method})
            outcome.code = grpc.StatusCode.INTERNAL
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"Lỗi hệ thống (internal error); trace_id={current_trace_id()}",
            )
        outcome.code = grpc.StatusCode(
            next(c for c in grpc.StatusCode if c.value[0] == status.code)
        )
        # abort (not abort_with_status): the tracing interceptor's context records the code from it.
        mapped = rpc_status.to_status(status)
        await context.abort(mapped.code, mapped.details, mapped.trailing_metadata)

    def finish(outcome: _Outcome, started: float) -> None:
        code_name = outcome.code.name
        metrics.GRPC_REQUESTS.labels(method, code_name).inc()
        metrics.GRPC_LATENCY.labels(method).observe(time.perf_counter() - started)
        metrics.GRPC_IN_FLIGHT.labels(method).dec()

    def unary_response(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            outcome, started, metadata = begin(context)
            try:
                await before(context, outcome, metadata)
                return await behavior(request, context)
            except Exception as exc:
                await on_error(exc, context, outcome)
                raise
            finally:
                finish(outcome, started)

        return wrapped

    def stream_response(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            outcome, started, metadata = begin(context)
            holder = ""
            try:
                await before(context, outcome, metadata)
                if streams is not None:
                    subject = auth.current_principal().subject
                    streams.acquire(subject)  # PreconditionFailed past the per-principal cap
                    holder = subject
                async for item in behavior(request, context):
                    yield item
            except Exception as exc:
                await on_error(exc, context, outcome)
                raise
            finally:
                if holder and streams is not None:
                    streams.release(holder)
                finish(outcome, started)

        return wrapped

    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            unary_response(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            unary_response(handler.stream_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            stream_response(handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        stream_response(handler.stream_stream),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _audit_denial(method: str, principal: auth.Principal | None, code: str, reason: str, kind: str) -> None:
    metrics.AUTH_DENIALS.labels(method, code, kind).inc()
    audit.warning(
        "access denied",
        extra={
            "audit": "access_denied",
            "method": method,
            "code": code,
            "subject": principal.subject if principal else None,
            "roles": sorted(principal.roles) if principal else None,
            "reason": reason,
            "reason_kind": kind,
        },
    )
