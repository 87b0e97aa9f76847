"""The bench's CPU probe: the machine's speed, and when a run is not a quiet machine's."""

from __future__ import annotations

import pytest
from loadtests.bench import cpuprobe


def _probe(rate: float, spread: float) -> dict[str, float]:
    return {"ops_per_s": rate, "min_ops_per_s": rate * (1 - spread / 2), "max_ops_per_s": rate * (1 + spread / 2),
            "spread": spread}


def test_probe_measures_a_positive_rate_over_its_slices() -> None:
    p = cpuprobe.probe(slice_s=0.02, slices=5)
    assert p["slices"] == 5
    assert 0 < p["min_ops_per_s"] <= p["ops_per_s"] <= p["max_ops_per_s"]
    assert p["spread"] == pytest.approx((p["max_ops_per_s"] - p["min_ops_per_s"]) / p["ops_per_s"], abs=1e-3)


def test_a_quiet_idle_machine_is_not_contended() -> None:
    assert cpuprobe.contention(load_start=0.4, cpus=2, start=_probe(50_000, 0.1), end=_probe(48_000, 0.1)) == []


@pytest.mark.parametrize(("load", "start", "end", "said"), [
    (1.5, _probe(50_000, 0.1), _probe(50_000, 0.1), "load average 1.50 > 1"),
    (0.2, _probe(50_000, 0.4), _probe(50_000, 0.1), "CPU probe at the start: slices spread 40%"),
    (0.2, _probe(50_000, 0.1), _probe(50_000, 0.3), "CPU probe at the end: slices spread 30%"),
    (0.2, _probe(50_000, 0.1), _probe(30_000, 0.1), "CPU probe slowed from 50,000 to 30,000 ops/s"),
])
def test_each_witness_of_contention_is_named(load: float, start: dict[str, float], end: dict[str, float],
                                             said: str) -> None:
    reasons = cpuprobe.contention(load_start=load, cpus=2, start=start, end=end)
    assert len(reasons) == 1 and reasons[0].startswith(said), reasons


def test_report_cost_in_probe_operations() -> None:
    assert cpuprobe.report_cost_ops(10.0, _probe(50_000, 0.1)) == 500.0  # 10 ms × 50 ops/ms
    assert cpuprobe.report_cost_ops(None, _probe(50_000, 0.1)) is None
    assert cpuprobe.report_cost_ops(10.0, None) is None
