"""The bench splits a phase's CPU per report by process, within the phase's window only."""

from __future__ import annotations

from loadtests.bench.monitor import ProcessMonitor
from loadtests.bench.report import by_process_markdown


def monitor() -> ProcessMonitor:
    m = ProcessMonitor({"kafka": 1, "incidents-api": 2})
    m.add("bench-harness", 3)
    # t = 0 is the priming sample (dropped); 1 s apart; the phase runs from t=10 to t=20.
    for t in range(31):
        busy = 10.0 < t <= 20.0
        m.samples.append({"t": float(t), "kafka": {"cpu": 50.0 if busy else 5.0, "rss_mb": 1.0},
                          "incidents-api": {"cpu": 20.0 if busy else 0.0, "rss_mb": 1.0},
                          "bench-harness": {"cpu": 10.0, "rss_mb": 1.0}})
    return m


def test_cpu_per_report_counts_only_the_window() -> None:
    # 10 s at 50 % of a core = 5 CPU s over 1,000 reports = 5 ms each; the api 2 ms; the idle rest is out.
    got = monitor().cpu_ms_per_report((10.0, 20.0), 1000)
    assert got == {"kafka": 5.0, "incidents-api": 2.0, "bench-harness": 1.0}
    assert monitor().cpu_ms_per_report((10.0, 20.0), 0) == {}


def test_the_table_lists_the_costliest_first_and_leaves_the_harness_out_of_the_city() -> None:
    lines = by_process_markdown({"surge": {"kafka": 5.0, "incidents-api": 2.0, "bench-harness": 1.0},
                                 "step 100/s": {"kafka": 4.0, "incidents-api": 3.0, "bench-harness": 1.0}})
    rows = [line for line in lines if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| tiến trình (process) | surge | step 100/s |")
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| kafka", "| incidents-api", "| bench-harness",
                                                     "| **thành phố (city)**"]
    assert rows[-1] == "| **thành phố (city)** | **7.00** | **7.00** |"


def test_a_quiet_city_is_idle_cpu_and_caught_up_consumers_whatever_the_bench_itself_does() -> None:
    from loadtests.bench.run import SETTLE_CPU_PERCENT, SETTLE_LAG, city_quiet

    cpu = {"t": 1.0, "machine_cpu": 90.0, "kafka": {"cpu": 10.0}, "incidents-api": {"cpu": 5.0},
           "bench-harness": {"cpu": 95.0}}
    lag = {"lag": {"cityops-dispatch-worker": SETTLE_LAG, "bench.ceiling.x.bare.cityops-bench-bare-worker": 10**6}}
    assert city_quiet(cpu, lag)
    assert not city_quiet({**cpu, "kafka": {"cpu": SETTLE_CPU_PERCENT}}, lag)
    behind = {"lag": {"cityops-notifications-worker": SETTLE_LAG + 1}}
    assert not city_quiet(cpu, behind)
    assert not city_quiet(cpu, behind, {"lag": {"cityops-notifications-worker": SETTLE_LAG + 50}})  # draining
    assert city_quiet(cpu, behind, behind)  # a lag that stays put while the city idles is no work
    assert not city_quiet(None, lag) and not city_quiet(cpu, None)
