"""CI smoke of the load tests (not a benchmark: nothing here looks at speed).

One fresh local city (the bench's own ``LocalCity``: devstack + every service on free ports) for
the module; against it, ``python -m loadtests.bench --smoke`` must produce a summary with every
metric key and every plot, having followed reports all the way to a verified webhook, and a 20-s
headless Locust run must finish with 0 errors.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityops_devtools.devstack import DevstackUnavailable

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # loadtests/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from loadtests.bench import cpuprobe  # noqa: E402
from loadtests.bench.report import METRIC_KEYS, PLOTS, SURGE_HOPS  # noqa: E402
from loadtests.bench.stack import Endpoints, LocalCity  # noqa: E402

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCity, Endpoints]]:
    # keep=True: the run dir lives under pytest's tmp (cleaned by pytest), so logs survive a failure.
    local = LocalCity(tmp_path_factory.mktemp("bench-city"), log_level="WARNING", keep=True)
    try:
        endpoints = local.start(timeout=240)
    except DevstackUnavailable as exc:
        local.stop()
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"devstack unavailable under CI=true: {exc}")
        pytest.skip(f"devstack unavailable: {exc}")
    except BaseException:
        local.stop()
        raise
    yield local, endpoints
    local.stop()


def _env(endpoints: Endpoints) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(endpoints.env())
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def _logs(local: LocalCity, name: str) -> str:
    child = next(c for c in local.children if c.name == name)
    return child.log_file.read_text(errors="replace")[-3000:]


def test_bench_smoke_writes_every_metric_and_plot(city: tuple[LocalCity, Endpoints], tmp_path: Path) -> None:
    local, ep = city
    argv = [sys.executable, "-m", "loadtests.bench", "--smoke", "--results", str(tmp_path),
            "--kafka", ep.kafka_bootstrap, "--database-url", ep.database_url,
            "--sensors-worker-metrics", local.worker_metrics("sensors") or "",
            *(arg for svc, addr in ep.addrs.items() for arg in (f"--{svc}-addr", addr))]
    result = subprocess.run(argv, cwd=ROOT, env=_env(ep), capture_output=True, text=True, timeout=360, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["missing_keys"] == []
    assert sorted(summary["metric_keys"]) == sorted(METRIC_KEYS)
    for name in PLOTS:
        assert (run_dir / name).stat().st_size > 1000, name
    assert "| report_incident_rpc |" in (run_dir / "summary.md").read_text(encoding="utf-8")
    # End to end: every hop was observed at least once, and nothing failed or was forged.
    counts = summary["surge"]["counts"]
    assert counts["reports_failed"] == 0, (counts, _logs(local, "incidents-api"))
    assert counts["reports_failed"] == 0 and counts["reports_ok"] == counts["reports_scheduled"] > 0
    assert counts["webhook_bad_signatures"] == 0
    for hop in SURGE_HOPS:
        assert summary["surge"]["latency"][hop]["count"] > 0, hop
    assert summary["sensors"]["step_up"] and "error" not in summary["sensors"]["step_up"][0]
    assert summary["sensors"]["alert_to_incident"]["count"] > 0
    for ceiling in ("kafka_producer", "kafka_consumer", "faust_bare"):
        assert summary["ceilings"][ceiling]["records_per_s"] > 0, ceiling
    assert summary["ceilings"]["grpc_bare"]["readings_per_s"] > 0
    assert {t["name"] for t in summary["targets"]} >= {"report_incident_p99_ms", "faust_agent_vs_bare_ratio"}
    for when in ("start", "end"):  # the machine's speed beside every CPU figure
        assert summary["cpu_probe"][when]["ops_per_s"] > 0, summary["cpu_probe"]
    # Against endpoints the bench sees no city process, so no CPU per report: the cost in probe
    # operations follows it (a local city's run gives both).
    assert summary["surge"]["cpu_probe_ops_per_report"] == cpuprobe.report_cost_ops(
        summary["surge"]["cpu_ms_per_report"], summary["cpu_probe"]["start"])
    assert "- tốc độ CPU lúc đầu (start): " in (run_dir / "summary.md").read_text(encoding="utf-8")
    assert summary["run"]["contended"] == bool(summary["run"]["contended_reasons"])


def test_locust_headless_20s_has_no_errors(city: tuple[LocalCity, Endpoints], tmp_path: Path) -> None:
    _local, ep = city
    argv = [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "-u", "10", "-r", "5",
            "-t", "20s", "--host", "127.0.0.1", "--only-summary", "--csv", str(tmp_path / "locust")]
    result = subprocess.run(argv, cwd=ROOT, env=_env(ep), capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    with open(tmp_path / "locust_stats.csv", encoding="utf-8") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    total = rows["Aggregated"]
    assert int(total["Failure Count"]) == 0, output
    assert int(total["Request Count"]) > 0
    # Every kind of user really ran: each client's main call shows up.
    for method in ("ReportIncident", "IngestReadings", "ListUnits", "ListIncidents"):
        assert any(name.endswith(method) for name in rows), (method, sorted(rows))
