"""gRPC clients of the four services: one channel each, a deadline on every call, and the caller's
bearer token forwarded so the services enforce RBAC. The CLIENT spans and the trace context in the
metadata are the channel's tracing interceptors' (``create_channel``), when tracing is on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram

from cityops.dispatch.v1 import dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2_grpc
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_platform import auth
from cityops_platform.grpc.client import call_timeout, create_channel, outbound_metadata
from cityops_platform.settings import Settings

T = TypeVar("T")

UPSTREAM_CALLS = Counter(
    "cityops_gateway_upstream_calls_total", "gRPC calls from the gateway, by final code", ["method", "code"]
)
UPSTREAM_LATENCY = Histogram(
    "cityops_gateway_upstream_call_seconds",
    "gRPC call time from the gateway",
    ["method"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# gRPC code -> (HTTP status, stable error code for clients).
_HTTP: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_argument"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_argument"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_denied"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already_exists"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed_precondition"),
    grpc.StatusCode.ABORTED: (409, "aborted"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "resource_exhausted"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "unimplemented"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "deadline_exceeded"),
}


@dataclass
class UpstreamError(Exception):
    """A failed upstream call, already translated to HTTP terms."""

    http_status: int
    code: str
    message: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    grpc_code: str = ""

    def __str__(self) -> str:
        return f"{self.http_status} {self.code}: {self.message}"

    @classmethod
    def from_rpc(cls, exc: grpc.aio.AioRpcError) -> UpstreamError:
        status_code = exc.code()
        http_status, code = _HTTP.get(status_code, (503, "unavailable"))
        return cls(http_status, code, exc.details() or status_code.name, _field_violations(exc), status_code.name)


def _field_violations(exc: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    try:
        status = rpc_status.from_call(exc)
    except ValueError:
        return []
    out: list[tuple[str, str]] = []
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


class ServiceClients:
    """Channels and stubs for incidents, dispatch, sensors and notifications."""

    def __init__(self, settings: Settings) -> None:
        self._timeout = settings.rpc_timeout_seconds
        self._channels = [
            create_channel(addr, settings)  # TLS/mTLS when CITYOPS_GRPC_TLS_SERVER_CA is set
            for addr in (settings.incidents_addr, settings.dispatch_addr, settings.sensors_addr,
                         settings.notifications_addr)
        ]
        self.incidents = incidents_pb2_grpc.IncidentServiceStub(self._channels[0])
        self.dispatch = dispatch_pb2_grpc.DispatchServiceStub(self._channels[1])
        self.sensors = sensors_pb2_grpc.SensorServiceStub(self._channels[2])
        self.notifications = notifications_pb2_grpc.NotificationServiceStub(self._channels[3])

    async def call(self, method: Callable[..., Awaitable[T]], request: Any, *, token: str) -> T:
        """Call ``method`` with the deadline and the bearer token.

        Raises ``UpstreamError`` for every failure, so handlers never see a raw gRPC error.
        """
        name = _method_name(method)
        started = time.perf_counter()
        metadata = outbound_metadata(token)
        try:
            response = await method(request, timeout=call_timeout(self._timeout), metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            UPSTREAM_CALLS.labels(name, exc.code().name).inc()
            raise UpstreamError.from_rpc(exc) from exc
        finally:
            UPSTREAM_LATENCY.labels(name).observe(time.perf_counter() - started)
        UPSTREAM_CALLS.labels(name, "OK").inc()
        return response

    def channels(self) -> dict[str, grpc.aio.Channel]:
        """The channel to each upstream service, by name (the readiness probe checks their health)."""
        return dict(zip(("incidents", "dispatch", "sensors", "notifications"), self._channels, strict=True))

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def _method_name(method: Any) -> str:
    raw = getattr(method, "_method", b"")
    return raw.decode() if isinstance(raw, bytes) else str(raw or getattr(method, "__name__", "call"))


class ServiceTokens:
    """Tokens the gateway mints for itself (Open311 clients), refreshed before they expire."""

    def __init__(self, codec: auth.TokenCodec, *, ttl_seconds: int = 3600) -> None:
        self._codec = codec
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}

    def token(self, subject: str, role: str) -> str:
        key = (subject, role)
        cached = self._cache.get(key)
        if cached is not None and cached[1] - time.monotonic() > 60:
            return cached[0]
        token = self._codec.issue(subject, [role], ttl_seconds=self._ttl)
        self._cache[key] = (token, time.monotonic() + self._ttl)
        return token
