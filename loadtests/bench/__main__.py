"""``python -m loadtests.bench`` (``make bench``): the benchmark of the real-time core.

    python -m loadtests.bench                         # full run on a fresh local city
    python -m loadtests.bench --smoke                 # seconds, tiny rates: does the harness work?
    python -m loadtests.bench --surge-rate 50 --surge-duration 10 --phases surge
    python -m loadtests.bench --kafka 10.0.0.5:9092 --host 10.0.0.5 --jwt-secret …   # a deployment

Writes results/<timestamp>/{summary.json,summary.md,*.png}; exits 1 naming every missed target
(``--smoke`` never fails on a target: it checks the harness, not the speed), 2 on a harness error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console

from . import cpuprobe
from .run import BenchOptions, Display, bench, finish
from .stack import Endpoints, LocalCity, given_endpoints
from .surge import SurgeConfig

ROOT = Path(__file__).resolve().parents[2]


def rate_list(text: str) -> list[float]:
    """``100,200,300`` → rates per second, each > 0; ``''`` → no step-up."""
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"danh sách tốc độ không hợp lệ / not a list of rates: {text!r} (ví dụ / e.g. 100,200,300)") from None
    if any(not rate > 0 for rate in rates):  # also NaN
        raise argparse.ArgumentTypeError(
            f"mỗi tốc độ phải > 0, dùng '' để bỏ bậc tăng tải / every rate must be > 0, '' for no step-up: {text!r}")
    return rates


def city_setting(text: str) -> tuple[str, str]:
    """``CITYOPS_NAME=value``: one setting for every process of the local city (an A/B of a knob)."""
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("CITYOPS_") or not name[len("CITYOPS_"):].replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(
            f"cần CITYOPS_TÊN=giá trị / expected CITYOPS_NAME=value: {text!r}")
    return name, value


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny rates for a few seconds (CI)")
    p.add_argument("--phases", default="surge,sensors,ceilings", help="comma list of surge,sensors,ceilings")
    p.add_argument("--results", type=Path, default=ROOT / "results")
    p.add_argument("--profile", action="store_true",
                   help="sample every service with py-spy during the surge and the ingest (results/<ts>/profile)")
    p.add_argument("--targets", type=Path, default=None, help="targets file (default loadtests/targets.yaml)")
    g = p.add_argument_group("surge")
    g.add_argument("--surge-rate", type=float, default=200.0, help="ReportIncident per second")
    g.add_argument("--surge-duration", type=float, default=60.0, help="seconds")
    g.add_argument("--p1-share", type=float, default=0.10, help="share of P1 (auto-dispatched) reports")
    g.add_argument("--drain-timeout", type=float, default=60.0)
    g.add_argument("--surge-steps", type=rate_list, default="100,200,300,400,500,600,800",
                   help="rates of the surge step-up after the surge (stops at the first step that misses); "
                        "'' for none")
    g.add_argument("--surge-step-duration", type=float, default=30.0, help="seconds per surge step")
    g = p.add_argument_group("sensors")
    g.add_argument("--step-rates", type=rate_list, default="50000,100000,125000,150000,175000",
                   help="readings/s of the step-up (stops at the first unbounded step)")
    g.add_argument("--step-duration", type=float, default=60.0,
                   help="seconds per step (60: every step crosses a minute boundary, where the 1-minute windows close)")
    g.add_argument("--bounded-p99-ms", type=float, default=1000.0,
                   help="a step's latency counts as bounded up to this p99 (a growing queue passes it within a step)")
    g.add_argument("--sensors-args", default="--sensors 100000",
                   help="extra arguments for loadtests/sensors/bench_sensors.py")
    g.add_argument("--sensors-timeout", type=float, default=600.0, help="per step")
    g.add_argument("--ingest-seconds", type=float, default=15.0, help="max-rate ingest window for the ratios")
    g.add_argument("--ingest-sensors", type=int, default=100_000, help="registered sensors (the design load)")
    g.add_argument("--ingest-batch", type=int, default=5000, help="readings per ReadingBatch (as the sensors bench)")
    g.add_argument("--drain-worker-timeout", type=float, default=120.0,
                   help="longest wait for the worker to drain the max-rate ingest")
    g.add_argument("--alert-probes", type=int, default=20, help="smoke sensors for alert → incident")
    g = p.add_argument_group("ceilings")
    g.add_argument("--perf-records", type=int, default=200_000, help="records for Producer/ConsumerPerformance")
    g.add_argument("--perf-bytes", type=int, default=2 * 2**30, help="…but at most this many bytes")
    g.add_argument("--faust-records", type=int, default=30_000, help="records through the bare Faust agent")
    g = p.add_argument_group("target endpoints (default: start a fresh local city)")
    g.add_argument("--kafka", help="bootstrap servers of the deployment's Kafka")
    g.add_argument("--host", help="host of every api on its default port")
    for svc in ("incidents", "dispatch", "sensors", "notifications"):
        g.add_argument(f"--{svc}-addr", help=f"host:port of {svc}")
    g.add_argument("--database-url", help="the deployment's Postgres (only the sensors bench needs it)")
    g.add_argument("--jwt-secret", default=os.environ.get("CITYOPS_JWT_SECRET"))
    g.add_argument("--topic-prefix", default=os.environ.get("CITYOPS_TOPIC_PREFIX", ""))
    g.add_argument("--webhook-host", default="127.0.0.1",
                   help="address the notifications worker can reach this machine on")
    g.add_argument("--sensors-worker-metrics", help="the sensors worker's /metrics URL (for the Faust ratio)")
    g.add_argument("--no-gateway", action="store_true", help="local city without the gateway")
    g.add_argument("--keep-city", action="store_true", help="keep the local city's run dir (debugging)")
    g.add_argument("--log-level", default="INFO", help="log level of the local city's processes")
    g.add_argument("--city-env", type=city_setting, action="append", default=[], metavar="CITYOPS_NAME=VALUE",
                   help="a setting for every process of the local city, over the bench's own (repeatable; "
                        "recorded in summary.json run.service_env)")
    args = p.parse_args(argv)
    if args.smoke:
        args.surge_rate, args.surge_duration, args.drain_timeout = 5.0, 4.0, 30.0
        args.surge_steps, args.surge_step_duration = [5.0], 3.0
        args.step_rates, args.step_duration = [2000.0], 3.0
        args.sensors_args = "--sensors 200 --probes 10 --batch 200"
        args.sensors_timeout = min(args.sensors_timeout, 120.0)
        args.ingest_seconds, args.ingest_sensors, args.ingest_batch, args.alert_probes = 1.0, 100, 100, 3
        args.drain_worker_timeout = 5.0
        args.perf_records, args.faust_records = 2000, 1000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    out_dir = args.results / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    console = Console()
    display = Display(console)
    opts = BenchOptions(
        out_dir=out_dir, run_id=run_id, smoke=args.smoke,
        surge=SurgeConfig(rate=args.surge_rate, duration=args.surge_duration, p1_share=args.p1_share,
                          drain_timeout=args.drain_timeout),
        sensors_args=args.sensors_args.split(), sensors_timeout=args.sensors_timeout,
        step_rates=args.step_rates, step_duration=args.step_duration,
        bounded_p99_ms=args.bounded_p99_ms, alert_probes=args.alert_probes,
        drain_worker_timeout=args.drain_worker_timeout, perf_bytes=args.perf_bytes,
        profile=args.profile,
        surge_steps=args.surge_steps,
        surge_step_duration=args.surge_step_duration,
        ingest_seconds=args.ingest_seconds, ingest_sensors=args.ingest_sensors, ingest_batch=args.ingest_batch,
        perf_records=args.perf_records, faust_records=args.faust_records,
        phases={p.strip() for p in args.phases.split(",") if p.strip()}, targets_file=args.targets,
        sensors_worker_metrics=args.sensors_worker_metrics, city_env=dict(args.city_env),
    )
    load_start = psutil.getloadavg()[0]
    display.say("▶ Đo tốc độ CPU của máy (CPU probe: this machine's speed)…")
    probe_start = cpuprobe.probe()
    display.say(f"  {probe_start['ops_per_s']:,.0f} phép/s (ops/s), chênh giữa các lát (slice spread) "
                f"{probe_start['spread']:.0%}")
    city: LocalCity | None = None
    ep: Endpoints
    code = 2
    with display.progress:
        try:
            if args.kafka:
                ep = given_endpoints(kafka=args.kafka, host=args.host, jwt_secret=args.jwt_secret,
                                     addrs={s: getattr(args, f"{s}_addr") for s in
                                            ("incidents", "dispatch", "sensors", "notifications")},
                                     topic_prefix=args.topic_prefix, webhook_host=args.webhook_host)
                ep.database_url = args.database_url or ""
                mode = "endpoints"
            else:
                display.say("▶ Khởi động thành phố cục bộ (starting a fresh local city)…")
                city = LocalCity(ROOT / ".run" / "bench", gateway=not args.no_gateway, log_level=args.log_level,
                                 keep=args.keep_city, statement_stats=args.profile, extra_env=opts.city_env)
                ep = city.start(say=lambda m: display.say(f"  {m}"))
                mode = "local"
                display.say("  ✔ sẵn sàng (ready): " + ", ".join(f"{k}={v}" for k, v in ep.addrs.items()))
            summary = asyncio.run(bench(ep, opts, display, city))
            # The end probe runs with the city drained and idle, as the start one ran before it.
            summary["cpu_probe"] = {"start": probe_start, "end": cpuprobe.probe()}
            if city is not None and city.crashed():
                summary["crashed"] = city.crashed()
            summary, code = finish(summary, opts, mode=mode, load_start=load_start)
        except Exception as exc:
            display.say(f"[red]✘ lỗi của bộ đo (harness error): {exc!r}[/]")
            console.print_exception(max_frames=8)
            return 2
        finally:
            if city is not None:
                city.save_logs(out_dir / "logs")
                city.stop()
    report(console, summary, out_dir)
    return code


def report(console: Console, summary: dict, out_dir: Path) -> None:  # type: ignore[type-arg]
    console.print((out_dir / "summary.md").read_text(encoding="utf-8"))
    missed = [t for t in summary["targets"] if not t["ok"]]
    for t in missed:
        console.print(f"[red]✘ TRƯỢT MỤC TIÊU (missed target) {t['name']}: {t['detail']} — {t['description']}[/]")
    if summary["run"]["smoke"] and missed:
        console.print("[yellow]--smoke: mục tiêu không được áp dụng (targets not enforced)[/]")
    console.print(f"Kết quả (results): {out_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
