"""Outputs of a run: summary.json, summary.md (Markdown tables) and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import psutil

matplotlib.use("Agg")  # files only; no display on CI or over SSH
import matplotlib.pyplot as plt

from .profile import statements_markdown
from .targets import lookup

SURGE_HOPS = ("report_incident_rpc", "report_to_incident_committed", "report_to_unit_assigned",
              "assignment_to_notification", "report_to_notification")
# Every key a summary must have, measured or null: the CI smoke checks them all.
METRIC_KEYS = (
    *(f"surge.latency.{hop}.{p}" for hop in SURGE_HOPS for p in ("p50_ms", "p95_ms", "p99_ms", "count")),
    "surge.achieved_reports_per_s", "surge.counts", "surge.cpu_ms_per_report", "cpu_ms_per_report_by_process.surge",
    "surge_steps.knee_reports_per_s", "surge_steps.steps",
    "sensors.sustained_readings_per_s", "sensors.sustained_within_p99_target_per_s",
    "sensors.reading_to_alert.p50_ms", "sensors.reading_to_alert.p95_ms",
    "sensors.reading_to_alert.p99_ms", "sensors.step_up", "sensors.alert_to_incident.p99_ms",
    "sensors.ingest_readings_per_s",
    "ceilings.kafka_producer.records_per_s", "ceilings.kafka_consumer.records_per_s",
    "ceilings.faust_bare.records_per_s", "ceilings.grpc_bare.readings_per_s", "ceilings.record",
    "ratios.sensors_worker_vs_bare_faust", "ratios.ingest_vs_bare_grpc", "ratios.readings_vs_kafka_producer",
    "ratios.readings_vs_kafka_consumer",
    "lag", "processes", "targets", "run.contended", "run.contended_reasons", "cpu_probe.start", "cpu_probe.end",
)
PLOTS = ("throughput.png", "latency_percentiles.png", "latency_over_time.png", "lag.png", "cpu.png")



def by_process_markdown(by_process: dict[str, dict[str, float]]) -> list[str]:
    """The table of CPU ms per report, one row per process (costliest first), one column per phase."""
    if not by_process:
        return []
    phases = list(by_process)
    names = sorted({n for v in by_process.values() for n in v},
                   key=lambda n: -max(by_process[p].get(n, 0.0) for p in phases))
    lines = ["### CPU mỗi phản ánh theo tiến trình (CPU per report by process), ms", "",
             "Trong cửa sổ của từng đợt, từ mẫu CPU mỗi giây; bộ đo (harness) không tính vào thành phố "
             "(within each phase's window, from the 1-s CPU samples; the harness is not part of the city).", "",
             "| tiến trình (process) | " + " | ".join(phases) + " |", "|---|" + "---|" * len(phases)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(by_process[p].get(name), 2) for p in phases) + " |")
    city = [sum(v for n, v in by_process[p].items() if n != "bench-harness") for p in phases]
    return [*lines, "| **thành phố (city)** | " + " | ".join(f"**{_fmt(c, 2)}**" for c in city) + " |", ""]

def missing_keys(summary: dict[str, Any]) -> list[str]:
    out = []
    for key in METRIC_KEYS:
        node: Any = summary
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                out.append(key)
                break
            node = node[part]
    return out


def write_json(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✔" if value else "✘"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _probe_lines(summary: dict[str, Any]) -> list[str]:
    """The machine's speed at the start and the end (``cpuprobe``), and why the run counts as contended."""
    probes = summary.get("cpu_probe") or {}
    lines = []
    for name, label in (("start", "lúc đầu (start)"), ("end", "lúc cuối (end)")):
        p = probes.get(name)
        if p:
            lines.append(f"- tốc độ CPU {label}: {p['ops_per_s']:,.0f} phép/s (ops/s) trên một lõi, "
                         f"lát chậm nhất/nhanh nhất (slowest/fastest slice) {p['min_ops_per_s']:,.0f}/"
                         f"{p['max_ops_per_s']:,.0f}, chênh (spread) {p['spread']:.0%}")
    for reason in summary["run"].get("contended_reasons") or []:
        lines.append(f"- lý do coi là bận (contended because): {reason}")
    return lines


def markdown(summary: dict[str, Any]) -> str:
    run = summary["run"]
    lines = [f"# Benchmark {run['id']}", "",
             f"- máy (machine): {run['cpus']} CPU, load avg lúc đầu/cuối (start/end) "
             f"{run['load_start']:.1f}/{run['load_end']:.1f}"
             + (" — **ĐO KHI MÁY ĐANG BẬN (measured under contention)**" if run["contended"] else ""),
             *_probe_lines(summary),
             f"- chế độ (mode): {run['mode']}, smoke={run['smoke']}",
             *(["- thiết lập của thành phố (city settings): "
                + ", ".join(f"`{k}={v}`" for k, v in sorted(run["service_env"].items()))]
               if run.get("service_env") else []), ""]
    lines += ["## Mục tiêu (targets)", "", "| mục tiêu (target) | ngưỡng | đo được (measured) | kết quả |",
              "|---|---|---|---|"]
    for t in summary["targets"]:
        lines.append(f"| {t['name']} — {t['description']} | {t['target']} | {_fmt(t['value'])} | "
                     f"{'✔ đạt' if t['ok'] else '✘ trượt (missed)'} |")
    lines += ["", "## Đợt sự cố (incident surge)", "",
              f"{_fmt(lookup(summary, 'surge.config.rate'))} phản ánh/s × "
              f"{_fmt(lookup(summary, 'surge.config.duration_s'))} s, "
              f"đạt {_fmt(lookup(summary, 'surge.achieved_reports_per_s'))}/s", "",
              "| chặng (hop) | n | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms |", "|---|---|---|---|---|---|---|"]
    for hop in SURGE_HOPS:
        s = lookup(summary, f"surge.latency.{hop}") or {}
        lines.append(f"| {hop} | {_fmt(s.get('count'))} | {_fmt(s.get('p50_ms'))} | {_fmt(s.get('p95_ms'))} | "
                     f"{_fmt(s.get('p99_ms'))} | {_fmt(s.get('p99.9_ms'))} | {_fmt(s.get('max_ms'))} |")
    counts = lookup(summary, "surge.counts") or {}
    lines += ["", "Số đếm (counts): " + ", ".join(f"{k}={_fmt(v)}" for k, v in counts.items()), "",
              f"CPU mỗi phản ánh, cộng mọi tiến trình của thành phố (CPU per report, every city process): "
              f"{_fmt(lookup(summary, 'surge.cpu_ms_per_report'), 2)} ms "
              f"(= {_fmt(lookup(summary, 'surge.cpu_probe_ops_per_report'), 1)} phép thử CPU, CPU-probe operations)",
              ""]
    steps = lookup(summary, "surge_steps.steps") or []
    if steps:
        lines += [f"### Bậc tăng tải (surge step-up): điểm gãy (knee) = "
                  f"**{_fmt(lookup(summary, 'surge_steps.knee_reports_per_s'))}/s**", "",
                  "| /s offered | chờ lắng (settle) s | /s OK | failed | p99 RPC ms | p99 → assigned ms | "
                  "p99 → notified ms | CPU ms/report | met |", "|---|---|---|---|---|---|---|---|---|"]
        for st in steps:
            p99 = st.get("p99_ms") or {}
            settle = _fmt(st.get("settle_s")) + ("" if st.get("settled") is not False else " (chưa lắng, not settled)")
            lines.append(f"| {_fmt(st['rate'])} | {settle} | {_fmt(st['completed_per_s'])} | "
                         f"{_fmt(st['counts'].get('reports_failed'))} | {_fmt(p99.get('report_incident_rpc'))} | "
                         f"{_fmt(p99.get('report_to_unit_assigned'))} | {_fmt(p99.get('report_to_notification'))} | "
                         f"{_fmt(st.get('cpu_ms_per_report'), 2)} | "
                         f"{'✔' if st['met'] else '✘ ' + '; '.join(st['why_not'])} |")
        lines.append("")
    lines += by_process_markdown(summary.get("cpu_ms_per_report_by_process") or {})
    sensors = summary.get("sensors") or {}
    lines += ["## Cảm biến (sensors)", "", "| chỉ số (metric) | giá trị (value) |", "|---|---|"]
    for key in ("sustained_readings_per_s", "sustained_within_p99_target_per_s", "bounded_p99_ms",
                "ingest_readings_per_s", "worker_readings_per_s",
                "worker_rate_method", "source", "note"):
        lines.append(f"| {key} | {_fmt(sensors.get(key))} |")
    for hop in ("reading_to_alert", "alert_to_incident"):
        s = sensors.get(hop) or {}
        lines.append(f"| {hop} p50/p95/p99 ms | {_fmt(s.get('p50_ms'))} / {_fmt(s.get('p95_ms'))} / "
                     f"{_fmt(s.get('p99_ms'))} |")
    steps = sensors.get("step_up") or []
    if steps:
        lines += ["", "| bước (step) readings/s | api nhận (accepted)/s | worker/s | xả (drain) s | p50 / p99 ms | "
                  "alerts | lag max | lag tăng (growing) | bounded |", "|---|---|---|---|---|---|---|---|---|"]
        for s in steps:
            lines.append(f"| {_fmt(s.get('rate'))} | {_fmt(s.get('achieved'))} | {_fmt(s.get('worker_during_send'))} | "
                         f"{_fmt(s.get('drain_s'))} | {_fmt(s.get('p50_ms'))} / {_fmt(s.get('p99_ms'))} | "
                         f"{_fmt(s.get('alerts'))} | {_fmt(s.get('lag_max'))} | {_fmt(s.get('lag_growing'))} | "
                         f"{_fmt(s.get('bounded'))} {s.get('error', '')} |")
    lines += ["", "## Trần của máy (ceilings) và tỉ lệ (ratios)", "",
              "| của ta (ours) | trần (ceiling) | tỉ lệ (ratio) |", "|---|---|---|"]
    for label, ours, ceiling, ratio in summary.get("ratio_rows", []):
        lines.append(f"| {label}: {_fmt(ours)} | {_fmt(ceiling)} | {_fmt(ratio, 3)} |")
    lines += ["", "| trần (ceiling) | records/s | khác (other) |", "|---|---|---|"]
    for name, c in (summary.get("ceilings") or {}).items():
        if (isinstance(c, dict) and "records_per_s" in c) or (isinstance(c, dict) and "readings_per_s" in c):
            other = {k: v for k, v in c.items() if k not in ("records_per_s", "raw")}
            lines.append(f"| {name} | {_fmt(c.get('records_per_s'))} | {other} |")
    lines += ["", "## Tiến trình (processes): CPU % (100 = một lõi) và RSS", "",
              "| tiến trình | CPU tb (mean) | CPU max | RSS max MB |", "|---|---|---|---|"]
    for name, p in sorted((summary.get("processes") or {}).items()):
        lines.append(f"| {name} | {_fmt(p['cpu_mean'])} | {_fmt(p['cpu_max'])} | {_fmt(p['rss_max_mb'])} |")
    statements = (summary.get("profiles") or {}).get("surge_postgres")
    if statements:
        lines += ["", "## Postgres trong đợt sự cố (statements during the surge, --profile)", "",
                  statements_markdown(statements).rstrip("\n")]
    lines += ["", "## Độ trễ tiêu thụ (consumer lag)", "",
              "| nhóm (group) | max | cuối (last) | tăng dần (growing) |", "|---|---|---|---|"]
    for group, s in sorted((summary.get("lag") or {}).items()):
        lines.append(f"| {group} | {_fmt(s['max'])} | {_fmt(s['last'])} | {_fmt(s['growing'])} |")
    return "\n".join(lines) + "\n"


def plots(out: Path, series: dict[str, Any]) -> list[str]:
    """throughput, latency percentiles (bars), latency over time, lag over time, CPU over time."""
    written: list[str] = []
    phases = series.get("phases", [])
    fig, ax = plt.subplots(figsize=(10, 4))
    surge_rows = [r for rows in series.get("surge_rows", []) for r in rows]
    if surge_rows:
        t = [r["t"] for r in surge_rows]
        ax.plot(t, [r.get("offered_per_s", 0) for r in surge_rows], label="offered /s", color="0.5", ls="--")
        ax.plot(t, [r["reports_per_s"] for r in surge_rows], label="completed OK /s", color="tab:green")
        ax.plot(t, [r.get("failed_per_s", 0) for r in surge_rows], label="failed /s", color="tab:red")
        ax.axhline(200, color="tab:blue", lw=0.8, ls=":", label="target 200/s")
        ax.axhline(400, color="tab:purple", lw=0.8, ls=":", label="headroom 400/s")
    for name, rows, key in series.get("throughput", []):
        if rows and key != "reports_per_s":
            ax2 = ax.twinx()
            ax2.plot([r["t"] for r in rows], [r[key] for r in rows], label=name, color="tab:orange", alpha=0.7)
            ax2.set_ylabel(name)
    _shade(ax, phases)
    ax.set(title="ReportIncident: offered / completed / failed per second", xlabel="s", ylabel="/s")
    _finish(fig, ax, out / "throughput.png", written)

    fig, ax = plt.subplots(figsize=(10, 4))
    names = [n for n, _ in series.get("percentiles", [])]
    for k, p in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        values = [s.get(p) or 0 for _, s in series.get("percentiles", [])]
        ax.bar([i + k * 0.27 for i in range(len(names))], values, width=0.27, label=p)
    ax.set_xticks([i + 0.27 for i in range(len(names))], names, rotation=20, ha="right", fontsize=7)
    ax.set(title="Độ trễ theo chặng (latency per hop)", ylabel="ms")
    if any(v for _, st in series.get("percentiles", []) for v in (st.get("p50_ms"),) if v):
        ax.set_yscale("log")
    _finish(fig, ax, out / "latency_percentiles.png", written)

    fig, ax = plt.subplots(figsize=(10, 4))
    for name, rows in series.get("latency_over_time", []):
        if rows:
            ax.plot([r["t"] for r in rows], [r["p99_ms"] for r in rows], label=f"{name} p99")
    for bound, label in ((50, "RPC target 50 ms"), (500, "assigned 500 ms"), (1000, "notified 1 s")):
        ax.axhline(bound, lw=0.8, ls=":", color="0.3")
        ax.annotate(label, (0, bound), fontsize=6, color="0.3")
    _shade(ax, phases)
    ax.set(title="p99 theo thời gian (p99 over time, by scheduled second)", xlabel="s", ylabel="ms")
    _finish(fig, ax, out / "latency_over_time.png", written)

    fig, ax = plt.subplots(figsize=(10, 4))
    lag = series.get("lag", [])
    for group in sorted({g for s in lag for g in s["lag"]} - {g for s in lag for g in s["lag"] if harness_group(g)}):
        ax.plot([s["t"] for s in lag], [s["lag"].get(group, 0) for s in lag], label=group)
    _shade(ax, phases)
    ax.set(title="Độ trễ tiêu thụ (consumer lag, records)", xlabel="s", ylabel="records")
    _finish(fig, ax, out / "lag.png", written)

    fig, ax = plt.subplots(figsize=(10, 4))
    cpu = series.get("cpu", [])
    names = sorted({k for s in cpu for k, v in s.items() if isinstance(v, dict)})
    for name in names:
        ax.plot([s["t"] for s in cpu], [s.get(name, {}).get("cpu", 0) for s in cpu], label=name)
    if cpu:
        # psutil's machine figure is 0-100 % of all cores: shown on the per-process scale.
        cores = psutil.cpu_count() or 1
        ax.plot([s["t"] for s in cpu], [s.get("machine_cpu", 0) * cores for s in cpu], label="machine (all processes)",
                color="black", lw=1.5)
        ax.axhline(100 * cores, color="black", lw=0.6, ls=":")
    _shade(ax, phases)
    ax.set(title="CPU % theo tiến trình (per process; 100 = one core)", xlabel="s", ylabel="%")
    _finish(fig, ax, out / "cpu.png", written)
    return written


def harness_group(group: str) -> bool:
    """Consumer groups of the bench itself (the bare Faust ceiling agent, Kafka's
    ConsumerPerformance), not of the city: kept out of the lag plot. The sensors bench's own worker
    (``bench…cityops-sensors-worker``) runs our code and stays in."""
    if group.endswith("cityops-sensors-worker"):
        return False
    return "bare" in group or group.startswith("perf-consumer") or "bench.ceiling" in group


def _shade(ax: Any, phases: list[tuple[str, float, float]]) -> None:
    for i, (name, start, end) in enumerate(phases):
        ax.axvspan(start, end, color=f"C{i % 10}", alpha=0.08)
        ax.annotate(name, (start, 1.0), xycoords=("data", "axes fraction"), fontsize=6, va="top")


def _finish(fig: Any, ax: Any, path: Path, written: list[str]) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path.name)
