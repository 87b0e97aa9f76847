"""Phase 1, the incident surge: ReportIncident at a fixed rate, followed through Kafka to a webhook.

Hops measured per report (HDR histograms, from the report's *scheduled* time):
- ``report_incident_rpc``: the ReportIncident call itself;
- ``report_to_incident_committed``: the IncidentReported/IncidentMerged record of this report on
  incidents.events (the record timestamp: the outbox relay published it after the commit);
- ``report_to_unit_assigned``: the first UnitAssigned of an incident this report created (P1s);
- ``assignment_to_notification``: UnitAssigned record → the signed webhook POST arriving here;
- ``report_to_notification``: the report → the first webhook about its incident.
Kafka is read by groupless consumers positioned at the end of each topic before the load starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition

from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from cityops_platform.auth import TokenCodec
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS
from cityops_platform.settings import Settings

from .hdr import Latency
from .openloop import OpenLoopStats, run_open_loop
from .stack import Endpoints
from .surge_data import ReportMaker, bench_units, units_needed
from .webhook import Delivery, WebhookReceiver, field_of

log = logging.getLogger("loadtests.bench")
UNIT_ASSIGNED = "cityops.dispatch.v1.UnitAssigned"


@dataclass
class SurgeConfig:
    rate: float = 200.0
    duration: float = 60.0
    p1_share: float = 0.10
    duplicate_share: float = 0.05
    drain_timeout: float = 60.0
    rpc_timeout: float = 10.0
    # The reports' random places and texts. Each step of the step-up takes its own seed: with the
    # surge's seed its reports would land on the surge's still-open incidents and all merge into
    # them, so no step would create (and auto-dispatch) a P1 of its own.
    seed: int = 1022


@dataclass
class SurgeResult:
    latencies: dict[str, Latency]
    stats: OpenLoopStats
    counts: dict[str, Any] = field(default_factory=dict)
    throughput: list[dict[str, float]] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)  # seconds after t0 while requests went out


def metadata(ep: Endpoints, role: str) -> tuple[tuple[str, str], ...]:
    token = TokenCodec(ep.jwt_secret).issue(f"svc-bench-{role}", [role], ttl_seconds=6 * 3600)
    return (("authorization", f"Bearer {token}"),)


class Tail:
    """A groupless consumer of one topic from its current end, handing each record to ``on_record``."""

    def __init__(self, settings: Settings, topic: str, on_record: Callable[[Any], None]) -> None:
        self.topic, self.on_record = topic, on_record
        self.consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False,
                                         fetch_max_wait_ms=20)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic)
        if not parts:
            await self.consumer._client.force_metadata_update()  # topic created moments ago
            parts = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the positions now, before the first record of the load exists
            await self.consumer.position(tp)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batch.values():
                for record in records:
                    self.on_record(record)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()


async def seed_units(ep: Endpoints, units: list[dispatch_pb2.Unit], *, say: Callable[[str], None]) -> None:
    async with grpc.aio.insecure_channel(ep.addrs["dispatch"]) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        md = metadata(ep, "admin")
        gate = asyncio.Semaphore(16)

        async def one(unit: dispatch_pb2.Unit) -> None:
            async with gate:
                await stub.RegisterUnit(dispatch_pb2.RegisterUnitRequest(unit=unit), metadata=md, timeout=30)

        for start in range(0, len(units), 200):
            await asyncio.gather(*(one(u) for u in units[start:start + 200]))
            say(f"đơn vị thử tải (bench units) {min(start + 200, len(units))}/{len(units)}")


async def subscribe(ep: Endpoints, url: str, secret: str) -> str:
    async with grpc.aio.insecure_channel(ep.addrs["notifications"]) as channel:
        stub = notifications_pb2_grpc.NotificationServiceStub(channel)
        sub = notifications_pb2.Subscription(
            channel=notifications_pb2.CHANNEL_WEBHOOK, address=url, language="vi", secret=secret,
            filter=notifications_pb2.SubscriptionFilter(event_types=[UNIT_ASSIGNED]),
            description="Bộ nhận webhook của benchmark (bench receiver)",
        )
        reply = await stub.CreateSubscription(notifications_pb2.CreateSubscriptionRequest(subscription=sub),
                                              metadata=metadata(ep, "admin"), timeout=30)
        return str(reply.id)


async def run_surge(ep: Endpoints, cfg: SurgeConfig, *, run_id: str, t0: float,
                    say: Callable[[str], None], progress: Callable[[str, float], None],
                    cpu: Callable[[], float] | None = None) -> SurgeResult:
    """One surge. ``cpu`` (the city's CPU seconds so far) is read when the first request is due and
    after the drain: ``counts["city_cpu_s"]`` excludes the registration of the units."""
    settings = ep.settings()
    lat = {name: Latency(name, desc) for name, desc in [
        ("report_incident_rpc", "ReportIncident RPC, from its scheduled time"),
        ("report_to_incident_committed", "report → IncidentReported/Merged on incidents.events"),
        ("report_to_unit_assigned", "report → first UnitAssigned of the incident (P1, auto-dispatch)"),
        ("assignment_to_notification", "UnitAssigned → signed webhook delivered to the harness"),
        ("report_to_notification", "report → first webhook delivered about its incident"),
    ]}
    reports: dict[str, tuple[float, bool]] = {}  # report_id → (due, p1)
    created_by: dict[str, str] = {}  # incident_id → report_id that created it
    committed: dict[str, float] = {}  # report_id → record time
    assigned: dict[str, float] = {}  # incident_id → first UnitAssigned time
    assignment_ts: dict[str, float] = {}  # assignment_id → record time
    delivered: list[Delivery] = []
    sent_per_second: dict[int, int] = {}  # completed OK, by the second the reply came
    offered_per_second: dict[int, int] = {}  # by the second the request was due
    failed_per_second: dict[int, int] = {}  # not OK (error or deadline), by the second it ended

    def on_incident(record: Any) -> None:
        event = incidents_pb2.IncidentEvent.FromString(record.value)
        body = event.WhichOneof("body")
        if body in ("reported", "merged"):
            report_id = getattr(event, body).report_id
            committed.setdefault(report_id, record.timestamp / 1000.0)

    def on_dispatch(record: Any) -> None:
        event = dispatch_pb2.DispatchEvent.FromString(record.value)
        if event.WhichOneof("body") == "unit_assigned":
            ts = record.timestamp / 1000.0
            assigned.setdefault(event.incident_id, ts)
            assignment_ts.setdefault(event.assignment_id, ts)

    secret = secrets.token_urlsafe(24)
    receiver = WebhookReceiver(secret=secret, host=ep.webhook_host if ep.webhook_host != "0.0.0.0" else "0.0.0.0")
    receiver.on_delivery = delivered.append
    url = await receiver.start()
    tails = [Tail(settings, f"{ep.topic_prefix}{INCIDENT_EVENTS.name}", on_incident),
             Tail(settings, f"{ep.topic_prefix}{DISPATCH_EVENTS.name}", on_dispatch)]
    try:
        total = int(cfg.rate * cfg.duration)
        n_units = units_needed(total, cfg.p1_share)
        say(f"Đăng ký {n_units} đơn vị thử tải (registering bench units)…")
        await seed_units(ep, bench_units(n_units, run_id), say=say)
        await subscribe(ep, f"{url}/surge-{run_id}", secret)
        for tail in tails:
            await tail.start()
        maker = ReportMaker(cfg.p1_share, cfg.duplicate_share, seed=cfg.seed)
        requests = [maker.make(i, run_id) for i in range(total)]
        md = metadata(ep, "call_taker")
        options = [("grpc.max_concurrent_streams", 1000)]
        async with grpc.aio.insecure_channel(ep.addrs["incidents"], options=options) as channel:
            stub = incidents_pb2_grpc.IncidentServiceStub(channel)
            await channel.channel_ready()

            async def send(i: int, due: float) -> None:
                request, p1 = requests[i]
                offered_per_second[int(due)] = offered_per_second.get(int(due), 0) + 1
                try:
                    reply = await stub.ReportIncident(request, metadata=md, timeout=cfg.rpc_timeout)
                except BaseException:
                    done = time.time()
                    failed_per_second[int(done)] = failed_per_second.get(int(done), 0) + 1
                    raise
                done = time.time()
                sent_per_second[int(done)] = sent_per_second.get(int(done), 0) + 1
                lat["report_incident_rpc"].record(done - due, at=due)
                reports[reply.report_id] = (due, p1)
                if not reply.merged:
                    created_by[reply.incident.id] = reply.report_id
                progress("surge", i + 1)

            say(f"Đợt tăng đột biến (surge): {cfg.rate:g} phản ánh/s × {cfg.duration:g} s")
            load_start = time.time()
            cpu_start = cpu() if cpu else 0.0
            stats = await run_open_loop(cfg.rate, cfg.duration, send, drain_timeout=cfg.rpc_timeout + 5)
            load_end = time.time()
        p1_incidents = {inc for inc, rep in created_by.items() if reports[rep][1]}
        say(f"Chờ điều phối và thông báo (draining): {len(p1_incidents)} sự cố P1…")
        deadline = time.monotonic() + cfg.drain_timeout
        while time.monotonic() < deadline:
            notified = {field_of(d.data, "incident_id") for d in delivered}
            if (len(committed.keys() & reports.keys()) >= len(reports)
                    and p1_incidents <= assigned.keys() and p1_incidents <= notified):
                break
            await asyncio.sleep(0.5)
        cpu_used = cpu() - cpu_start if cpu else None
    finally:
        for tail in tails:
            await tail.stop()
        await receiver.stop()

    for report_id, (due, _p1) in reports.items():
        if report_id in committed:
            lat["report_to_incident_committed"].record(committed[report_id] - due, at=due)
    for incident_id in p1_incidents:
        due = reports[created_by[incident_id]][0]
        if incident_id in assigned:
            lat["report_to_unit_assigned"].record(assigned[incident_id] - due, at=due)
    first_notice: dict[str, float] = {}
    for d in delivered:
        incident_id, assignment_id = field_of(d.data, "incident_id"), field_of(d.data, "assignment_id")
        if assignment_id in assignment_ts:
            lat["assignment_to_notification"].record(d.received_at - assignment_ts[assignment_id],
                                                     at=assignment_ts[assignment_id])
        first_notice[incident_id] = min(first_notice.get(incident_id, d.received_at), d.received_at)
    for incident_id in p1_incidents:
        if incident_id in first_notice:
            due = reports[created_by[incident_id]][0]
            lat["report_to_notification"].record(first_notice[incident_id] - due, at=due)
    counts = {
        "reports_scheduled": stats.scheduled, "reports_ok": stats.completed, "reports_failed": stats.failed,
        "errors": stats.errors, "late_starts": stats.late_starts,
        "max_start_lag_ms": round(stats.max_start_lag_s * 1000, 1),
        "incidents_created": len(created_by), "merged_reports": len(reports) - len(created_by),
        "p1_incidents": len(p1_incidents), "p1_assigned": len(p1_incidents & assigned.keys()),
        "p1_notified": len(p1_incidents & first_notice.keys()),
        "committed_seen": len(committed.keys() & reports.keys()),
        "webhook_deliveries": len(delivered), "webhook_bad_signatures": receiver.bad_signatures,
        "webhook_duplicates": receiver.duplicates,
        "city_cpu_s": round(cpu_used, 3) if cpu_used is not None else None,
    }
    seconds = sorted(sent_per_second.keys() | offered_per_second.keys() | failed_per_second.keys())
    throughput = [{"t": s - t0, "reports_per_s": sent_per_second.get(s, 0),
                   "offered_per_s": offered_per_second.get(s, 0), "failed_per_s": failed_per_second.get(s, 0)}
                  for s in seconds]
    return SurgeResult(lat, stats, counts, throughput, window=(load_start - t0, load_end - t0))
