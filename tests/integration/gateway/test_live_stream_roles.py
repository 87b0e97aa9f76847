"""The live stream (/api/events) and the KPI cache by role, on a real gateway process over the real
services, Kafka and Postgres (the per-role tables themselves are unit-tested in tests/unit/gateway).

One gateway of this module's own, with a KPI cache that outlives the test, so that "the cache is
per role set" is observed, not inferred: a figure cached for the operator never reaches a
call-taker, and a role without console access never gets a cached figure either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2
from cityops.dispatch.v1 import events_pb2 as dispatch_events
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.sensors.v1 import events_pb2 as sensor_events
from cityops_devtools.testing import bearer, free_port
from cityops_platform import auth
from cityops_platform.kafka import topics

pytestmark = pytest.mark.integration
# A budget for a loaded machine, not a latency claim.
WAIT_S = 90.0


def _token(stack: Any, roles: list[str], **bindings: str) -> str:
    s = stack.settings
    codec = auth.TokenCodec(s.jwt_secret, issuer=s.jwt_issuer, audience=s.jwt_audience)
    return codec.issue(f"live-{roles[0]}-{uuid.uuid4().hex[:6]}", roles, ttl_seconds=600, bindings=bindings)


@pytest.fixture(scope="module")
def gateway(gateway_stack: Any) -> Iterator[str]:
    """A gateway of this module's own over the shared services: KPI cache of an hour."""
    port = free_port()
    proc = gateway_stack.start_gateway(name="gateway-live", http_port=port, CITYOPS_ENVIRONMENT="local",
                                       CITYOPS_GATEWAY_KPI_CACHE_SECONDS="3600",
                                       CITYOPS_GATEWAY_SSE_HEARTBEAT_SECONDS="1")
    gateway_stack.wait_ready(WAIT_S, components=[proc])  # the launcher's one rule: /healthz events "ready"
    url = f"http://127.0.0.1:{port}"
    yield url


@dataclass
class Screen:
    """One open /api/events stream, read in a thread: every (event name, data) it delivered."""

    url: str
    token: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    error: str = ""

    def run(self) -> None:
        try:
            self._read()
        except Exception as exc:  # reported by the test through ``error``
            self.error = repr(exc)
            self.opened.set()

    def _read(self) -> None:
        with httpx.stream("GET", f"{self.url}/api/events", headers={"Authorization": f"Bearer {self.token}"},
                          timeout=httpx.Timeout(30, read=30)) as r:
            self.status = r.status_code
            self.opened.set()
            name = ""
            for line in r.iter_lines():  # the 1 s heartbeat lets the loop see ``stop``
                if self.stop.is_set():
                    return
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: ") and name:
                    self.events.append((name, json.loads(line[len("data: "):])))
                    name = ""

    def texts(self) -> str:
        return json.dumps(self.events, ensure_ascii=False)


@contextlib.contextmanager
def screens(url: str, tokens: dict[str, str]) -> Iterator[dict[str, Screen]]:
    opened = {name: Screen(url, token) for name, token in tokens.items()}
    threads = [threading.Thread(target=s.run, daemon=True, name=f"sse-{n}") for n, s in opened.items()]
    for t in threads:
        t.start()
    try:
        for s in opened.values():
            assert s.opened.wait(WAIT_S), "stream not opened"
            assert s.status == 200
        yield opened
    finally:
        for s in opened.values():
            s.stop.set()
        for t in threads:
            t.join(30)


def _report(stack: Any, description: str) -> incidents_pb2.Incident:
    """A new incident of its own (a fresh spot, so fusion does not merge it into an earlier one)."""
    lat, lon = 10.90 + random.random() * 0.15, 106.60 + random.random() * 0.15
    with grpc.insecure_channel(stack.addr("incidents")) as channel:
        reply = incidents_pb2_grpc.IncidentServiceStub(channel).ReportIncident(
            incidents_pb2.ReportIncidentRequest(
                category=incidents_pb2.CATEGORY_FIELD_REPORT, source=incidents_pb2.SOURCE_HOTLINE_1022,
                description=description, idempotency_key=f"live-{uuid.uuid4().hex}",
                location=common_pb2.GeoPoint(lat=lat, lon=lon, address="Thủ Dầu Một")),
            metadata=bearer(stack.settings, "call_taker"), timeout=30)
    assert not reply.merged, "merged into an earlier incident: pick another spot"
    return reply.incident


async def _publish_others(stack: Any, marker: str) -> None:
    """A dispatch event, a unit status and a sensor alert, on the real topics the services write."""
    prefix = stack.settings.topic_prefix
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        dispatch = dispatch_events.DispatchEvent(
            event_id=f"{marker}-dispatch", incident_id=str(uuid.uuid4()), unit_id=f"{marker}-unit",
            unit_cleared=dispatch_events.UnitCleared(reason=marker))
        unit = dispatch_events.UnitStatusUpdate(event_id=f"{marker}-status",
                                                unit=dispatch_pb2.Unit(id=f"{marker}-unit", call_sign=marker))
        alert = sensor_events.SensorAlert(event_id=f"{marker}-alert", alert_id=f"{marker}-alert",
                                          sensor_id=f"{marker}-sensor", state=sensor_events.ALERT_STATE_RAISED)
        for spec, key, message in ((topics.DISPATCH_EVENTS, dispatch.incident_id, dispatch),
                                   (topics.UNIT_STATUS, unit.unit.id, unit),
                                   (topics.SENSOR_ALERTS, alert.sensor_id, alert)):
            await producer.send_and_wait(spec.full_name(prefix), message.SerializeToString(), key=key.encode())
    finally:
        await producer.stop()


def _wait(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not seen within {WAIT_S:.0f} s: {what}")
        time.sleep(0.2)


def test_each_role_sees_only_its_event_kinds_and_the_operator_sees_all(gateway_stack: Any, gateway: str) -> None:
    # Roles without an operations stream: refused outright, also in combination and when bound.
    for roles, bindings in ((["citizen"], {}), (["field_unit"], {"unit_id": "u-1"}),
                            (["sensor_gateway"], {"gateway_id": "gw-1"}),
                            (["citizen", "field_unit", "sensor_gateway"], {"unit_id": "u-1"})):
        refused = httpx.get(f"{gateway}/api/events", timeout=10,
                            headers={"Authorization": f"Bearer {_token(gateway_stack, roles, **bindings)}"})
        assert refused.status_code == 403, (roles, refused.text)

    marker = f"live{uuid.uuid4().hex[:10]}"
    tokens = {"operator": _token(gateway_stack, ["operator"]), "call_taker": _token(gateway_stack, ["call_taker"])}
    with screens(gateway, tokens) as seen:
        _report(gateway_stack, f"Ổ gà {marker} trên đường Yersin")
        asyncio.run(_publish_others(gateway_stack, marker))
        operator = seen["operator"]

        def operator_saw_all() -> bool:
            kinds = {name for name, data in operator.events if marker in json.dumps(data, ensure_ascii=False)}
            return kinds >= {"incident", "dispatch", "unit", "alert"}

        _wait(operator_saw_all, "all four kinds on the operator's stream")
        # Everything above went through the hub before this sentinel; each stream is FIFO, so once
        # the call-taker has the sentinel it has been offered every earlier event.
        sentinel = f"sentinel{uuid.uuid4().hex[:10]}"
        _report(gateway_stack, f"Đèn đường hỏng {sentinel}")
        _wait(lambda: sentinel in seen["call_taker"].texts(),
              f"the sentinel on the call-taker's stream ({len(seen['call_taker'].events)} events, "
              f"error {seen['call_taker'].error!r}; operator {len(operator.events)}: {operator.texts()[-600:]})")
        call_taker = {name for name, data in seen["call_taker"].events
                      if marker in json.dumps(data, ensure_ascii=False)}
    assert call_taker == {"incident"}  # no dispatch, unit or alert event reached the call-taker


def test_kpis_are_cached_per_role_set_and_never_served_to_roles_without_the_console(
    gateway_stack: Any, gateway: str
) -> None:
    def kpis(roles: list[str], **bindings: str) -> httpx.Response:
        return httpx.get(f"{gateway}/api/kpis", timeout=60,
                         headers={"Authorization": f"Bearer {_token(gateway_stack, roles, **bindings)}"})

    first = kpis(["operator"])
    assert first.status_code == 200, first.text
    for roles, bindings in ((["citizen"], {}), (["field_unit"], {"unit_id": "u-1"}),
                            (["sensor_gateway"], {"gateway_id": "gw-1"}), (["integrator"], {})):
        refused = kpis(roles, **bindings)  # the operator's entry is warm: still nothing for these roles
        assert refused.status_code == 403, (roles, refused.text)
        assert "open_total" not in refused.text
    _report(gateway_stack, f"Cây đổ {uuid.uuid4().hex[:8]}")
    other = kpis(["call_taker"])  # its own entry, computed now: the new incident counts
    assert other.status_code == 200, other.text
    assert other.json()["open_total"] >= first.json()["open_total"] + 1
    assert other.json()["generated_at"] != first.json()["generated_at"]
    again = kpis(["operator"])  # the operator's entry, unchanged (the hour-long cache)
    assert again.json() == first.json()
