"""Outbound gRPC calls, written once: the channel, the metadata and the deadline.

- ``create_channel``: plaintext, TLS or mutual TLS from settings (``CITYOPS_GRPC_TLS_SERVER_CA``
  turns TLS on; the client certificate is ``CITYOPS_GRPC_TLS_CLIENT_CERT/KEY``, else the process's
  own ``CITYOPS_GRPC_TLS_CERT/KEY``, so one mesh certificate serves both directions).
- ``outbound_metadata``: the bearer token (the W3C trace context is the channel's tracing interceptor's).
- ``call_timeout``: ``min(default, time left on the RPC being served)``. The server interceptor
  records each inbound RPC's deadline; a call made while serving it can never outlive its caller,
  so a stalled downstream costs the original client no more than the deadline it chose.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Iterable, Sequence

import grpc

from cityops_platform import tracing
from cityops_platform.settings import Settings

# Below this, a call cannot succeed anyway: it fails DEADLINE_EXCEEDED at once instead of hanging.
MIN_TIMEOUT_S = 0.001

_inbound_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "cityops_inbound_deadline", default=None
)


def set_inbound_deadline(time_remaining: float | None) -> contextvars.Token[float | None]:
    """Remember the deadline of the RPC being served (``context.time_remaining()``; None: none)."""
    deadline = None if time_remaining is None else time.monotonic() + time_remaining
    return _inbound_deadline.set(deadline)


def remaining_seconds() -> float | None:
    """Seconds left on the RPC being served, or None outside an RPC or when it has no deadline."""
    deadline = _inbound_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def call_timeout(default: float) -> float:
    """The timeout for an outbound call: the default, shortened to the caller's remaining time."""
    left = remaining_seconds()
    timeout = default if left is None else min(default, left)
    return max(timeout, MIN_TIMEOUT_S)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials for client channels, or None for plaintext (no server CA configured)."""
    root = _read(settings.grpc_tls_server_ca)
    if root is None:
        return None
    cert = _read(settings.grpc_tls_client_cert or settings.grpc_tls_cert)
    key = _read(settings.grpc_tls_client_key or settings.grpc_tls_key)
    if (cert is None) != (key is None):
        raise ValueError("client certificate and key must be configured together")
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def service_config(lb_policy: str) -> str:
    """The channel's service config: ``lb_policy`` over every address the target resolves to."""
    return json.dumps({"loadBalancingConfig": [{lb_policy: {}}]})


def create_channel(
    address: str, settings: Settings, *, options: Sequence[tuple[str, object]] = ()
) -> grpc.aio.Channel:
    """An aio channel to ``address`` with the transport security and load balancing the settings ask for.

    With ``round_robin`` (the default) and a ``dns:///`` target naming a headless Service, calls are
    spread over every ready replica; a plain ``host:port`` resolves to one address and behaves as before.
    """
    opts = [("grpc.service_config", service_config(settings.grpc_lb_policy)), *options]
    if settings.grpc_tls_server_name:
        opts.append(("grpc.ssl_target_name_override", settings.grpc_tls_server_name))
    creds = channel_credentials(settings)
    # CLIENT spans and the W3C context in the metadata: the contrib interceptors (none when off).
    interceptors = tracing.client_interceptors() or None
    if creds is None:
        return grpc.aio.insecure_channel(address, options=opts, interceptors=interceptors)
    return grpc.aio.secure_channel(address, creds, options=opts, interceptors=interceptors)


def outbound_metadata(
    token: str | None, extra: Iterable[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """``authorization: Bearer <token>`` (when given), then ``extra``.

    The trace context is added by the channel's tracing interceptor (``create_channel``).
    """
    head = (("authorization", f"Bearer {token}"),) if token else ()
    return (*head, *extra)
