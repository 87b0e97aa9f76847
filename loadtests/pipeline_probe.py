"""A quick probe of the incident pipeline's latency, for the engineer tuning it (not `make bench`).

    python -m loadtests.pipeline_probe --rate 200 --duration 60 [--nice -10] [--profile DIR --top 30] [--json FILE]

Starts a throw-away city (devstack + the apis and workers of incidents, dispatch and
notifications, on free ports), registers enough units for every P1, subscribes a local signed
webhook receiver to UnitAssigned, then sends ReportIncident open-loop at a fixed rate (latency from
each request's *scheduled* time, so a stall shows up as latency) and reports p50/p95/p99/max of:

- ``rpc``: the ReportIncident call;
- ``committed``: report → its IncidentReported/IncidentMerged record on incidents.events;
- ``assigned``: report → first UnitAssigned of the P1 incident it created (dispatch.events);
- ``delivery_created``: report → the DeliveryCreated record of its UnitAssigned (notifications.deliveries);
- ``notified``: report → first webhook POST about that incident received here.

With ``--profile DIR`` every service process is sampled by py-spy during the load (collapsed
stacks in DIR/<process>.txt; ``--top`` prints the hottest frames). CPU seconds per process are
always reported (per report too), with the statements per report (pg_stat_statements) and the p99
per time slice: on a 2-core machine they say who eats the budget. ``--nice -10`` gives the city
priority over other work on a shared machine (say so when quoting its numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import psutil
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from hdrh.histogram import HdrHistogram
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from cityops_devtools.city import City, clean_environ
from cityops_devtools.devstack import Devstack
from cityops_devtools.testing import serve_http
from cityops_platform.auth import TokenCodec
from cityops_platform.kafka.client import client_kwargs
from cityops_platform.kafka.topics import DISPATCH_EVENTS, INCIDENT_EVENTS, NOTIFICATION_DELIVERIES
from cityops_platform.settings import Settings

SERVICES = ("incidents", "dispatch", "notifications")
SERVICE_ENV = {
    "CITYOPS_RATE_WEBHOOK_BURST": "10000000",  # one receiver gets every assignment
    "CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "3600",  # probe units never acknowledge
    "CITYOPS_GRPC_DRAIN_SECONDS": "1",
    "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the probe's own loopback webhook receiver
    "CITYOPS_LOG_LEVEL": "WARNING",
}
# Inside the reference city's service area, away from its edges.
BOX = (10.97, 11.28, 106.55, 106.78)
P1 = [("CATEGORY_EMERGENCY_MEDICAL", "Cụ ông ngất xỉu trước cửa nhà, cần xe cấp cứu gấp"),
      ("CATEGORY_EMERGENCY_MEDICAL", "Công nhân té từ giàn giáo, không cử động được"),
      ("CATEGORY_EMERGENCY_MEDICAL", "Sản phụ chuyển dạ, cần xe đưa đi viện"),
      ("CATEGORY_FIRE", "Cháy kho chứa vải trong khu dân cư, khói bốc cao")]
OTHER = [("CATEGORY_FIELD_REPORT", "Ổ gà lớn giữa đường"), ("CATEGORY_FLOOD", "Mưa lớn làm ngập đường trước chợ"),
         ("CATEGORY_ADMINISTRATIVE_PROCEDURE", "Hỏi thủ tục cấp giấy phép xây dựng")]
UNIT_ASSIGNED = "cityops.dispatch.v1.UnitAssigned"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ProbeCity:
    """Devstack + api and worker of each probed service in a temporary directory (the one launcher)."""

    def __init__(self, log_level: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pipeline-probe-"))
        self.stack = Devstack(self.dir / "devstack")
        self.log_level = log_level
        self.city: City | None = None

    def start(self) -> Settings:
        self.stack.start()
        # pg_stat_statements counts every statement (BEGIN/COMMIT too): round trips per report.
        self.stack.postgres.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        self.stack.postgres.restart()
        self.stack.postgres.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database="cityops")
        # One explicit signing key for the services and the probe's tokens.
        self.jwt_secret = "probe-" + hashlib.sha256(os.urandom(16)).hexdigest()
        settings = Settings(kafka_bootstrap=self.stack.kafka.bootstrap, database_url=self.stack.postgres.dsn,
                            jwt_secret=self.jwt_secret)
        env = {**SERVICE_ENV, "CITYOPS_LOG_LEVEL": self.log_level}
        self.city = City(self.dir, settings, base_env=clean_environ(**env))
        self.city.prepare(SERVICES)
        self.city.plan(SERVICES, gateway=False)
        self.city.start()
        self.city.wait_ready(180)
        return settings

    @property
    def procs(self) -> dict[str, subprocess.Popen[bytes]]:
        assert self.city is not None
        return {c.name: c.proc for c in self.city.components if c.proc is not None}

    def statements(self, reset: bool = False) -> list[tuple[int, float, str]]:
        """(calls, total ms, query) of the cityops database, most called first."""
        if reset:
            self.stack.postgres.psql("SELECT pg_stat_statements_reset()", database="cityops")
            return []
        out = self.stack.postgres.psql(
            "SELECT s.calls, round(s.total_exec_time::numeric, 1), "
            "regexp_replace(left(s.query, 110), '\\s+', ' ', 'g') "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'cityops' "
            "ORDER BY s.calls DESC", database="cityops")
        rows = []
        for line in out.splitlines():
            calls, ms, query = line.split("|", 2)
            rows.append((int(calls), float(ms), query))
        return rows

    def addr(self, svc: str) -> str:
        assert self.city is not None
        return self.city.addr(svc)

    def pids(self) -> dict[str, int]:
        out = {name: p.pid for name, p in self.procs.items()}
        out["kafka"], out["postgres"] = self.stack.kafka.pid or 0, self.stack.postgres.pid or 0
        out["probe"] = os.getpid()  # the load generator itself: it must not be the bottleneck
        return {k: v for k, v in out.items() if v}

    def stop(self, keep: bool) -> None:
        if self.city is not None:
            self.city.stop()
        self.stack.stop()
        if keep:
            say(f"logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def renice(city: ProbeCity, niceness: int) -> None:
    """Give the city (and this probe) another scheduling priority, children included."""
    procs = [psutil.Process()]
    for pid in city.pids().values():
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.nice(niceness)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User+system CPU of each process and its children (Postgres backends belong to postgres)."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            total = sum(proc.cpu_times()[:2])
            # The probe's children are the city itself: count only its own threads.
            for child in proc.children(recursive=True) if name != "probe" else []:
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
            out[name] = total
        except psutil.Error:
            continue
    return out


class Hist:
    def __init__(self) -> None:
        self.h = HdrHistogram(1, 3_600_000_000, 3)

    def add(self, seconds: float) -> None:
        self.h.record_value(min(max(int(seconds * 1e6), 1), 3_600_000_000))

    def summary(self) -> dict[str, float]:
        n = self.h.get_total_count()
        if not n:
            return {"n": 0}
        ms = {f"p{p:g}": round(self.h.get_value_at_percentile(p) / 1000, 1) for p in (50, 95, 99)}
        return {"n": n, **ms, "max": round(self.h.get_max_value() / 1000, 1)}


def token(secret: str, role: str) -> tuple[tuple[str, str], ...]:
    codec = TokenCodec.from_settings(Settings(jwt_secret=secret))
    return (("authorization", f"Bearer {codec.issue(f'svc-probe-{role}', [role], ttl_seconds=7200)}"),)


def units(count: int, rng: random.Random) -> list[dispatch_pb2.Unit]:
    """ALS ambulances and fire engines (3:1) spread over the box: enough that no P1 waits."""
    out = []
    for i in range(count):
        fire = i % 4 == 3
        point = common_pb2.GeoPoint(lat=rng.uniform(*BOX[:2]), lon=rng.uniform(*BOX[2:]))
        out.append(dispatch_pb2.Unit(
            id=f"probe-{i:05d}", call_sign=f"{'PCCC' if fire else 'CC115'}-PROBE-{i:05d}",
            agency=common_pb2.AGENCY_FIRE_RESCUE_114 if fire else common_pb2.AGENCY_MEDICAL_115,
            capabilities=["FIRE_ENGINE"] if fire else ["ALS", "BLS"], status=dispatch_pb2.UNIT_STATUS_AVAILABLE,
            location=point, station="Trạm thử (probe)", unit_type="FIRE_ENGINE" if fire else "AMBULANCE",
            station_location=point))
    return out


async def tail(settings: Settings, topic: str, on_record: Any, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=200)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        ready.set()
        while True:
            for records in (await consumer.getmany(timeout_ms=50, max_records=5000)).values():
                for record in records:
                    on_record(record)
    finally:
        await consumer.stop()


async def drive(city: ProbeCity, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1022)
    secret_md = settings.jwt_secret
    total = int(args.rate * args.duration)
    # 3 of 4 P1s are medical (1 ALS), 1 of 4 fires (2 engines + 1 ALS); units come 3 ALS : 1 engine,
    # so engines run out first: 0.5 engines per P1 / 0.25 of the units, plus slack. No P1 waits.
    n_units = int(total * args.p1_share * 0.5 / 0.25 * 1.2) + 16
    hook_secret = "probe-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
    received: dict[str, float] = {}  # incident id → first webhook arrival
    bad_signatures = 0
    verifier = Webhook(hook_secret.encode())

    async def hook(request: web.Request) -> web.Response:
        nonlocal bad_signatures
        at = time.time()
        body = await request.read()
        try:
            verifier.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            bad_signatures += 1
            return web.Response(status=401)
        data = json.loads(body).get("data") or {}
        incident = str(data.get("incidentId") or data.get("incident_id") or "")
        received.setdefault(incident, at)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, hook_port = await serve_http(app)

    async with grpc.aio.insecure_channel(city.addr("dispatch")) as ch:
        stub = dispatch_pb2_grpc.DispatchServiceStub(ch)
        gate = asyncio.Semaphore(16)

        async def register(u: dispatch_pb2.Unit) -> None:
            async with gate:
                await stub.RegisterUnit(dispatch_pb2.RegisterUnitRequest(unit=u), metadata=token(secret_md, "admin"),
                                        timeout=30)

        await asyncio.gather(*(register(u) for u in units(n_units, rng)))
    async with grpc.aio.insecure_channel(city.addr("notifications")) as ch:
        sub = notifications_pb2.Subscription(
            channel=notifications_pb2.CHANNEL_WEBHOOK, address=f"http://127.0.0.1:{hook_port}/hook", language="vi",
            secret=hook_secret, filter=notifications_pb2.SubscriptionFilter(event_types=[UNIT_ASSIGNED]),
            description="Bộ nhận của probe (probe receiver)")
        await notifications_pb2_grpc.NotificationServiceStub(ch).CreateSubscription(
            notifications_pb2.CreateSubscriptionRequest(subscription=sub), metadata=token(secret_md, "admin"),
            timeout=30)
    say(f"{n_units} units registered, webhook subscribed; sending {total} reports at {args.rate:g}/s")

    committed: dict[str, float] = {}  # report id → record time
    assigned: dict[str, float] = {}  # incident id → first UnitAssigned record time
    assignment_events: dict[str, str] = {}  # UnitAssigned event id → incident id
    delivery_created: dict[str, float] = {}  # incident id → its first DeliveryCreated record time

    def on_incident(record: Any) -> None:
        event = incidents_pb2.IncidentEvent.FromString(record.value)
        body = event.WhichOneof("body")
        if body in ("reported", "merged"):
            committed.setdefault(getattr(event, body).report_id, record.timestamp / 1000)

    def on_dispatch(record: Any) -> None:
        event = dispatch_pb2.DispatchEvent.FromString(record.value)
        if event.WhichOneof("body") == "unit_assigned":
            assigned.setdefault(event.incident_id, record.timestamp / 1000)
            assignment_events[event.event_id] = event.incident_id

    def on_delivery(record: Any) -> None:
        event = notifications_pb2.DeliveryEvent.FromString(record.value)
        incident = assignment_events.get(event.delivery.event_id)
        if incident and event.delivery.status == notifications_pb2.DELIVERY_STATUS_PENDING:
            delivery_created.setdefault(incident, record.timestamp / 1000)

    readies = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
    tails = [asyncio.create_task(tail(settings, INCIDENT_EVENTS.name, on_incident, readies[0])),
             asyncio.create_task(tail(settings, DISPATCH_EVENTS.name, on_dispatch, readies[1])),
             asyncio.create_task(tail(settings, NOTIFICATION_DELIVERIES.name, on_delivery, readies[2]))]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)

    requests = []
    for i in range(total):
        p1 = rng.random() < args.p1_share
        category, text = rng.choice(P1 if p1 else OTHER)
        requests.append((incidents_pb2.ReportIncidentRequest(
            category=incidents_pb2.Category.Value(category), description=text,
            location=common_pb2.GeoPoint(lat=rng.uniform(*BOX[:2]), lon=rng.uniform(*BOX[2:]), address="bench"),
            source=incidents_pb2.SOURCE_HOTLINE_1022, idempotency_key=f"probe-{os.getpid()}-{i}",
            reporter=incidents_pb2.Reporter(name="Người gọi", phone=f"0909{rng.randint(100000, 999999)}")), p1))
    rpc, errors = Hist(), Counter[str]()
    reports: dict[str, tuple[float, bool]] = {}  # report id → (due, p1)
    rpc_at: dict[str, float] = {}  # report id → reply time
    created_by: dict[str, str] = {}  # incident id → report id
    md = token(secret_md, "call_taker")
    profilers = start_profilers(city, args) if args.profile else []
    # The city's idle CPU (timers, heartbeats, polls) over a quiet window, so the per-report figure
    # can be given net of it: on a short run the idle share is large.
    idle_start, idle_t0 = cpu_seconds(city.pids()), time.monotonic()
    await asyncio.sleep(args.idle_window)
    idle_rate = {k: (v - idle_start.get(k, 0)) / (time.monotonic() - idle_t0)
                 for k, v in cpu_seconds(city.pids()).items()}
    await asyncio.to_thread(city.statements, True)
    cpu_before, cpu_t0 = cpu_seconds(city.pids()), time.monotonic()
    async with grpc.aio.insecure_channel(city.addr("incidents")) as ch:
        stub = incidents_pb2_grpc.IncidentServiceStub(ch)
        await ch.channel_ready()

        async def send(i: int, due: float) -> None:
            request, p1 = requests[i]
            try:
                reply = await stub.ReportIncident(request, metadata=md, timeout=10)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                return
            rpc_at[reply.report_id] = time.time()
            rpc.add(rpc_at[reply.report_id] - due)
            reports[reply.report_id] = (due, p1)
            if not reply.merged:
                created_by[reply.incident.id] = reply.report_id

        tasks = []
        start_mono, start_wall = time.monotonic() + 0.05, time.time() + 0.05
        for i in range(total):
            delay = start_mono + i / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, start_wall + i / args.rate)))
        await asyncio.gather(*tasks)
    load_s = time.time() - start_wall
    p1_incidents = {inc for inc, rep in created_by.items() if reports[rep][1]}
    deadline = time.monotonic() + args.drain

    def drained() -> bool:
        return (p1_incidents <= assigned.keys() and p1_incidents <= received.keys()
                and len(committed.keys() & reports.keys()) >= len(reports))

    while time.monotonic() < deadline and not drained():  # noqa: ASYNC110 - three consumers fill the sets
        await asyncio.sleep(0.2)
    cpu_after, cpu_window = cpu_seconds(city.pids()), time.monotonic() - cpu_t0
    statements = await asyncio.to_thread(city.statements)
    for task in tails:
        task.cancel()
    await asyncio.gather(*tails, return_exceptions=True)
    await runner.cleanup()
    for prof in profilers:
        prof.wait(timeout=30)

    hops = {"committed": Hist(), "assigned": Hist(), "delivery_created": Hist(), "notified": Hist()}
    slices: dict[str, dict[int, Hist]] = {"rpc": {}, "assigned": {}, "notified": {}}

    def add(hop: str, seconds: float, due: float) -> None:
        if hop in hops:
            hops[hop].add(seconds)
        if hop in slices:
            slices[hop].setdefault(int((due - start_wall) // args.slice), Hist()).add(seconds)

    for report_id, (due, _) in reports.items():
        if report_id in committed:
            add("committed", committed[report_id] - due, due)
        add("rpc", rpc_at[report_id] - due, due)
    for incident in p1_incidents:
        due = reports[created_by[incident]][0]
        if incident in assigned:
            add("assigned", assigned[incident] - due, due)
        if incident in received:
            add("notified", received[incident] - due, due)
        if incident in delivery_created:
            add("delivery_created", delivery_created[incident] - due, due)
    return {
        "config": {"rate": args.rate, "duration": args.duration, "p1_share": args.p1_share, "units": n_units},
        "achieved_rate": round(len(reports) / load_s, 1), "errors": dict(errors), "bad_signatures": bad_signatures,
        "p1_incidents": len(p1_incidents), "p1_assigned": len(p1_incidents & assigned.keys()),
        "p1_notified": len(p1_incidents & received.keys()),
        "latency_ms": {"rpc": rpc.summary(), **{k: h.summary() for k, h in hops.items()}},
        f"p99_ms_per_{args.slice:g}s": {hop: [by[i].summary().get("p99") if i in by else None
                                             for i in range(int(args.duration // args.slice) + 1)]
                                       for hop, by in slices.items()},
        "cpu_s": {k: round(cpu_after.get(k, 0) - v, 1) for k, v in cpu_before.items()},
        "cpu_ms_per_report": {k: round(1000 * (cpu_after.get(k, 0) - v) / max(len(reports), 1), 2)
                              for k, v in cpu_before.items()},
        "cpu_ms_per_report_net_of_idle": {
            k: round(1000 * max(0.0, cpu_after.get(k, 0) - v - idle_rate.get(k, 0) * cpu_window)
                     / max(len(reports), 1), 2) for k, v in cpu_before.items()},
        "cpu_ms_per_report_total": round(sum(
            1000 * (cpu_after.get(k, 0) - v) for k, v in cpu_before.items() if k != "probe") / max(len(reports), 1), 2),
        "cpu_ms_per_report_total_net_of_idle": round(sum(
            1000 * max(0.0, cpu_after.get(k, 0) - v - idle_rate.get(k, 0) * cpu_window)
            for k, v in cpu_before.items() if k != "probe") / max(len(reports), 1), 2),
        "idle_cpu_cores": {k: round(v, 3) for k, v in idle_rate.items()},
        "cpu_window_s": round(cpu_window, 1),
        "statements_per_report": round(sum(c for c, _, _ in statements) / max(len(reports), 1), 1),
        "top_statements": [f"{c / max(len(reports), 1):6.2f}/report {ms:9.1f} ms  {q}" for c, ms, q in statements[:40]],
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "niceness": args.nice,
    }


def start_profilers(city: ProbeCity, args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    procs = []
    for name, proc in city.procs.items():
        argv = [spy, "record", "--pid", str(proc.pid), "--duration", str(int(args.duration)), "--rate", "67",
                "--format", "raw", "--nonblocking", "--output", str(out_dir / f"{name}.txt")]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def top_frames(path: Path, limit: int = 25) -> list[tuple[str, float]]:
    """Inclusive share of samples per function (each function counted once per stack)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        for frame in set(stack.split(";")):
            counts[frame] += int(n)
    return [(frame, round(100 * c / max(total, 1), 1)) for frame, c in counts.most_common(limit)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--p1-share", type=float, default=0.10)
    p.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last assignments")
    p.add_argument("--profile", help="directory for py-spy collapsed stacks of every service process")
    p.add_argument("--idle-window", type=float, default=5.0,
                   help="seconds of quiet before the load, to measure the city's idle CPU")
    p.add_argument("--slice", type=float, default=5.0, help="seconds per slice of the p99-over-time table")
    p.add_argument("--top", type=int, default=0, help="print the N hottest frames of each profile")
    p.add_argument("--json", help="also write the result here")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--nice", type=int, default=0,
                   help="renice the city and the probe (e.g. -10) to measure through other work on the machine")
    args = p.parse_args()
    city = ProbeCity(args.log_level)
    try:
        say("starting devstack and services…")
        settings = city.start()
        if args.nice:
            renice(city, args.nice)
        result = asyncio.run(drive(city, settings, args))
    finally:
        city.stop(args.keep_logs)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if args.profile and args.top:
        for path in sorted(Path(args.profile).glob("*.txt")):
            print(f"\n== {path.stem}")
            for frame, share in top_frames(path, args.top):
                print(f"{share:6.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
