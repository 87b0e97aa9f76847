"""The gateway's health: liveness is the process, readiness is what it needs to serve.

- ``/livez``: the event loop answers. Kubernetes restarts the pod only when this fails.
- ``/healthz``: kept for local tools and scripts: 200 while the process answers (a liveness check),
  with the event hub's state in the body. Kubernetes uses ``/livez`` and ``/readyz``.
- ``/readyz``: every upstream gRPC api answers ``grpc.health.v1`` SERVING over
  the gateway's own channels (so a broken channel, DNS or NetworkPolicy shows here), and the event hub
  follows Kafka when the gateway follows events. Unready pods leave the Service; none is restarted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.requests import Request
from starlette.responses import JSONResponse

from cityops_gateway.state import GatewayState, gateway_state

CHECK_TIMEOUT_S = 1.5


async def upstream_status(channel: grpc.aio.Channel, *, within: float = CHECK_TIMEOUT_S) -> str:
    """``SERVING``, another health status name, or the gRPC code of the failed check."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=within)
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def readiness(state: GatewayState) -> tuple[bool, dict[str, Any]]:
    """(ready, details): the upstream apis' health and the event hub's state."""
    if state.clients_ is None:
        return False, {"status": "NOT_SERVING", "reason": "starting"}
    channels = state.clients_.channels()
    names = list(channels)
    statuses = await asyncio.gather(*(upstream_status(channels[name]) for name in names))
    upstreams = dict(zip(names, statuses, strict=True))
    ready = all(status == "SERVING" for status in statuses)
    events = "off"
    if state.hub is not None:
        events = "ready" if state.hub.ready.is_set() else "connecting"
        ready = ready and state.hub.ready.is_set()
    return ready, {"status": "SERVING" if ready else "NOT_SERVING", "upstreams": upstreams, "events": events}


async def livez(request: Request) -> JSONResponse:
    """Liveness: answering at all is the proof."""
    return JSONResponse({"status": "SERVING"})


async def healthz(request: Request) -> JSONResponse:
    """Compatibility check for local tools: alive, and whether the event hub follows Kafka yet."""
    state = gateway_state(request)
    hub_ready = state.hub is not None and state.hub.ready.is_set()
    return JSONResponse({"status": "ok", "events": "ready" if hub_ready else "connecting"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when every dependency answers, 503 with the details otherwise."""
    ready, body = await readiness(gateway_state(request))
    return JSONResponse(body, status_code=200 if ready else 503)
