"""gRPC load spread over api replicas, with real servers and real channels (docs/deploy.md, "gRPC load").

- ``create_channel`` balances round_robin over every address its target resolves to (in Kubernetes: a
  ``dns:///`` name of a headless Service; here an ``ipv4:`` list of two live servers); ``pick_first``,
  what a plain ClusterIP channel amounts to, sends everything to one of them.
- ``create_server(max_connection_age_s=...)`` makes clients reconnect (GOAWAY), which is how a client
  re-resolves and reaches the replicas an autoscaler added; calls keep succeeding across it.
- The gateway's readiness asks each upstream's grpc.health.v1 over those same channels.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc, resources_pb2
from cityops_devtools.testing import bearer
from cityops_gateway.asgi import create_web_app
from cityops_gateway.clients import ServiceClients
from cityops_platform import auth
from cityops_platform.grpc.client import create_channel
from cityops_platform.grpc.server import LIVENESS_SERVICE, GrpcService, RunningServer, create_server
from cityops_platform.settings import Settings

pytestmark = pytest.mark.integration
SERVICE = "cityops.incidents.v1.IncidentService"
POLICY = auth.AccessPolicy.for_service(SERVICE, {"GetIncident": auth.STAFF})
SETTINGS = Settings(environment="local")


class Replica(incidents_pb2_grpc.IncidentServiceServicer):
    """An api replica that answers with its own name and remembers each caller's connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.peers: Counter[str] = Counter()

    async def GetIncident(self, request, context):  # noqa: N802
        self.calls += 1
        self.peers[context.peer()] += 1
        return resources_pb2.Incident(id=self.name)


async def start_replica(name: str, **options: float) -> tuple[Replica, RunningServer]:
    replica = Replica(name)
    tokens = auth.TokenCodec(SETTINGS.jwt_secret, issuer=SETTINGS.jwt_issuer, audience=SETTINGS.jwt_audience)
    running = await create_server(
        "127.0.0.1:0",
        services=[GrpcService(SERVICE, replica, incidents_pb2_grpc.add_IncidentServiceServicer_to_server)],
        policy=POLICY,
        tokens=tokens,
        **options,  # type: ignore[arg-type]
    )
    return replica, running


@pytest.fixture
async def two_replicas() -> AsyncIterator[list[tuple[Replica, RunningServer]]]:
    replicas = [await start_replica("a"), await start_replica("b")]
    yield replicas
    for _, running in replicas:
        await running.server.stop(0)


async def call_many(channel: grpc.aio.Channel, count: int) -> Counter[str]:
    stub = incidents_pb2_grpc.IncidentServiceStub(channel)
    metadata = bearer(SETTINGS, "operator")
    answered: Counter[str] = Counter()
    for _ in range(count):
        reply = await stub.GetIncident(incidents_pb2.GetIncidentRequest(id="x"), metadata=metadata, timeout=5)
        answered[reply.id] += 1
    return answered


async def test_round_robin_channel_spreads_calls_over_every_replica(
    two_replicas: list[tuple[Replica, RunningServer]],
) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{running.port}" for _, running in two_replicas)
    channel = create_channel(target, SETTINGS)  # grpc_lb_policy defaults to round_robin
    try:
        await channel.channel_ready()
        answered = await call_many(channel, 40)
    finally:
        await channel.close()
    assert set(answered) == {"a", "b"}
    # round_robin alternates once both subchannels are READY: neither replica is starved.
    assert min(answered.values()) >= 10, answered
    assert [replica.calls for replica, _ in two_replicas] == [answered["a"], answered["b"]]


async def test_pick_first_pins_every_call_to_one_replica(two_replicas: list[tuple[Replica, RunningServer]]) -> None:
    target = "ipv4:" + ",".join(f"127.0.0.1:{running.port}" for _, running in two_replicas)
    channel = create_channel(target, SETTINGS.model_copy(update={"grpc_lb_policy": "pick_first"}))
    try:
        answered = await call_many(channel, 20)
    finally:
        await channel.close()
    # What a single ClusterIP connection does: one replica takes everything.
    assert len(answered) == 1 and sum(answered.values()) == 20, answered


async def test_max_connection_age_makes_the_client_reconnect_without_failing_calls() -> None:
    aged, aged_server = await start_replica("aged", max_connection_age_s=0.3, max_connection_age_grace_s=5.0)
    steady, steady_server = await start_replica("steady")
    try:
        for server in (aged_server, steady_server):
            channel = create_channel(f"127.0.0.1:{server.port}", SETTINGS)
            try:
                for _ in range(8):
                    await call_many(channel, 2)
                    await asyncio.sleep(0.25)
            finally:
                await channel.close()
    finally:
        await aged_server.server.stop(0)
        await steady_server.server.stop(0)
    assert aged.calls == steady.calls == 16  # every call succeeded on both
    # Each reconnect is a new TCP connection, seen by the server as a new peer address.
    assert len(aged.peers) >= 2, aged.peers
    assert len(steady.peers) == 1, steady.peers


async def test_liveness_stays_serving_when_readiness_goes_not_serving() -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    _, running = await start_replica("r")
    channel = create_channel(f"127.0.0.1:{running.port}", SETTINGS)
    stub = health_pb2_grpc.HealthStub(channel)

    async def status(service: str) -> int:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)

    try:
        serving = health_pb2.HealthCheckResponse.SERVING
        assert await status("") == serving and await status(LIVENESS_SERVICE) == serving
        await running.set_serving(False)  # what watch_readiness does while Postgres is down
        assert await status("") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await status(LIVENESS_SERVICE) == serving
        await running.stop(0)  # the drain turns liveness off too
    finally:
        await channel.close()


async def test_gateway_readiness_follows_the_upstream_apis_health() -> None:
    upstreams = {name: await start_replica(name) for name in ("incidents", "dispatch", "sensors", "notifications")}
    settings = SETTINGS.model_copy(
        update={f"{name}_addr": f"127.0.0.1:{running.port}" for name, (_, running) in upstreams.items()}
    )
    app = create_web_app(settings, follow_events=False)
    state = app.state.gateway
    state.clients_ = ServiceClients(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["upstreams"] == dict.fromkeys(upstreams, "SERVING")

            await upstreams["dispatch"][1].set_serving(False)
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["upstreams"]["dispatch"] == "NOT_SERVING"
            assert not_ready.json()["upstreams"]["incidents"] == "SERVING"

            await upstreams["sensors"][1].server.stop(0)  # a replica gone: UNAVAILABLE, still not ready
            gone = (await http.get("/readyz")).json()
            assert gone["upstreams"]["sensors"] == "UNAVAILABLE"
            # Liveness never depends on them.
            assert (await http.get("/livez")).status_code == 200
    finally:
        await state.clients_.close()
        for _, running in upstreams.values():
            await running.server.stop(0)
