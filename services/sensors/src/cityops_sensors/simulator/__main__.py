"""``python -m cityops_sensors.simulator``: the city's sensors come alive (also run by ``cityops up``).

Registers sensors across the province, streams readings (diurnal curves + scripted events from
``config/scenario.yaml``) through IngestReadings, files the events' 1022 hotline reports through
incidents when it answers, and registers units at stations through dispatch when it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from typing import Any

import grpc
import yaml

from cityops.common.v1 import common_pb2
from cityops.sensors.v1 import sensors_pb2 as pb
from cityops.sensors.v1 import sensors_pb2_grpc
from cityops_platform import auth
from cityops_platform.city import current_city
from cityops_platform.settings import get_settings
from cityops_sensors.simulator.city import REGION, SimSensor, place_sensors
from cityops_sensors.simulator.clients import register_units, report_hotline
from cityops_sensors.simulator.curves import ActiveEffect, reading


def where(district: str) -> str:
    """A simulated sensor's address: its district, and the city's region when it names one."""
    return f"{district}, {REGION}" if REGION else district


def say(message: str) -> None:
    print(message, flush=True)


def load_scenario(path: str | None) -> dict[str, Any]:
    if path:
        with open(path, encoding="utf-8") as f:
            return dict(yaml.safe_load(f))
    text = current_city().file("sensors/scenario.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def active_effects(scenario: dict[str, Any], elapsed: float) -> list[ActiveEffect]:
    t = elapsed % float(scenario.get("cycle_seconds", 900))
    out: list[ActiveEffect] = []
    for event in scenario["events"]:
        start, duration = float(event["start"]), float(event["duration"])
        if start <= t < start + duration:
            out.extend(ActiveEffect(e, (t - start) / duration) for e in event["effects"])
    return out


async def register_all(stub: Any, sensors: list[SimSensor], metadata: Any, rpc_timeout: float) -> None:
    sem = asyncio.Semaphore(32)

    async def one(s: SimSensor) -> None:
        async with sem:
            await stub.RegisterSensor(pb.RegisterSensorRequest(sensor=pb.Sensor(
                id=s.id, kind=pb.SensorKind.Value(f"SENSOR_KIND_{s.kind}"), district=s.district, name=s.name,
                reporting_interval_seconds=s.interval, labels=s.labels,
                location=common_pb2.GeoPoint(lat=s.lat, lon=s.lon, address=where(s.district)))),
                metadata=metadata, timeout=rpc_timeout)

    await asyncio.gather(*(one(s) for s in sensors))


async def wait_for_api(channel: grpc.aio.Channel, addr: str) -> None:
    while True:
        try:
            await asyncio.wait_for(channel.channel_ready(), 5)
            return
        except TimeoutError:
            say(f"… chờ dịch vụ sensors tại {addr} (waiting for the sensors api)")


async def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    codec = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    gateway = (("authorization", "Bearer " + codec.issue("svc-simulator", ["sensor_gateway", "integrator"],
                                                          ttl_seconds=30 * 24 * 3600)),)
    rng = random.Random(args.seed)
    scenario = load_scenario(args.scenario)
    sensors = place_sensors(scale=args.scale, interval=args.interval, seed=args.seed)
    interval = len(sensors) / args.rate if args.rate else float(args.interval)
    addr = args.addr or settings.sensors_addr
    async with grpc.aio.insecure_channel(addr, options=[("grpc.max_send_message_length", 16 * 1024 * 1024)]) as channel:
        await wait_for_api(channel, addr)
        stub = sensors_pb2_grpc.SensorServiceStub(channel)
        await register_all(stub, sensors, gateway, settings.rpc_timeout_seconds)
        say(f"✔ {len(sensors)} cảm biến đã đăng ký tại 9 huyện/thành phố (sensors registered); "
            f"mỗi cảm biến gửi mỗi {interval:.1f} s (~{len(sensors) / interval:.0f} readings/s)")
        units = await register_units(args.dispatch_addr or settings.dispatch_addr, gateway,
                                     settings.rpc_timeout_seconds)
        if units:
            say(f"✔ {units} đơn vị đã đăng ký tại các trạm (units registered)")
        started = time.monotonic()
        filed: set[str] = set()
        sent = accepted = rejected = 0
        last_progress = started
        tick = min(1.0, interval)
        cycle = float(scenario.get("cycle_seconds", 900))
        while args.duration <= 0 or time.monotonic() - started < args.duration:
            elapsed = time.monotonic() - started
            effects = active_effects(scenario, elapsed)
            now_ms = int(time.time() * 1000)
            # Each sensor reports on its own slot of the interval, so load is smooth.
            slot = int(elapsed / tick)
            slots = max(1, round(interval / tick))
            due = [s for i, s in enumerate(sensors) if i % slots == slot % slots]
            values = [reading(s, now_ms, effects, rng) for s in due]
            batch = pb.ReadingBatch(gateway_id="simulator", columns=pb.ReadingColumns(
                sensor_ids=[s.id for s in due], values=values, observed_at_ms=[now_ms] * len(due)))

            async def one_batch(b: pb.ReadingBatch = batch) -> Any:
                yield b

            summary = await stub.IngestReadings(one_batch(), metadata=gateway, timeout=30)
            sent += len(due)
            accepted += summary.accepted
            rejected += summary.rejected
            await file_hotline(args, scenario, elapsed, cycle, filed, gateway, settings.rpc_timeout_seconds,
                               settings.incidents_addr)
            if time.monotonic() - last_progress >= args.progress:
                last_progress = time.monotonic()
                names = sorted({e["name"] for e in scenario["events"]
                                if e["start"] <= elapsed % cycle < e["start"] + e["duration"]})
                say(f"[{elapsed:6.0f} s] gửi {sent} · nhận {accepted} · từ chối {rejected} "
                    f"(sent/accepted/rejected) · sự kiện (events): {', '.join(names) or '—'}")
            await asyncio.sleep(max(0.0, started + (slot + 1) * tick - time.monotonic()))
    say(f"■ xong (done): gửi {sent}, nhận {accepted}, từ chối {rejected}")
    return 0


async def file_hotline(args: argparse.Namespace, scenario: dict[str, Any], elapsed: float, cycle: float,
                       filed: set[str], metadata: Any, rpc_timeout: float, default_addr: str) -> None:
    if args.no_hotline:
        return
    n = int(elapsed // cycle)
    for event in scenario["events"]:
        for i, call in enumerate(event.get("hotline") or []):
            key = f"sim-{args.seed}-{n}-{event['name']}-{i}"
            if key in filed or elapsed % cycle < float(call["at"]):
                continue
            filed.add(key)
            number = await report_hotline(args.incidents_addr or default_addr, metadata, rpc_timeout, call, key)
            if number:
                say(f"☎ 1022: {call['description']} → sự cố (incident) {number}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cityops_sensors.simulator",
                                description="Bộ mô phỏng thành phố (the city simulator)")
    p.add_argument("--addr", help="sensors api (default CITYOPS_SENSORS_ADDR)")
    p.add_argument("--incidents-addr", help="incidents api for hotline reports (default CITYOPS_INCIDENTS_ADDR)")
    p.add_argument("--dispatch-addr", help="dispatch api for units (default CITYOPS_DISPATCH_ADDR)")
    p.add_argument("--scale", type=int, default=1, help="sensors per district × this (1 ≈ 200 sensors)")
    p.add_argument("--interval", type=int, default=10, help="seconds between readings of one sensor")
    p.add_argument("--rate", type=float, default=0.0, help="total readings/s (overrides --interval pacing)")
    p.add_argument("--duration", type=float, default=0.0, help="seconds to run; 0 = until stopped")
    p.add_argument("--seed", type=int, default=1022)
    p.add_argument("--scenario", help="events YAML (default: the city's sensors/scenario.yaml)")
    p.add_argument("--no-hotline", action="store_true", help="do not file hotline reports")
    p.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    args = p.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
