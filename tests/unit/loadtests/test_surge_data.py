"""The bench's surge reports: each step of the step-up offers reports of its own, not the surge's again."""

from __future__ import annotations

from types import SimpleNamespace

from loadtests.bench.run import step_configs
from loadtests.bench.surge import SurgeConfig
from loadtests.bench.surge_data import ReportMaker


def _places(seed: int, n: int = 200) -> set[tuple[float, float]]:
    maker = ReportMaker(0.10, 0.05, seed=seed)
    return {(r.location.lat, r.location.lon) for r, _ in (maker.make(i, "t") for i in range(n))}


def test_the_same_seed_repeats_its_reports_and_another_seed_does_not() -> None:
    assert _places(1022) == _places(1022)
    assert not _places(1022) & _places(1023)


def test_every_step_of_the_step_up_has_a_seed_of_its_own() -> None:
    surge = SurgeConfig(rate=200, duration=60)
    opts = SimpleNamespace(surge=surge, surge_steps=[100.0, 200.0, 300.0, 400.0], surge_step_duration=30.0)
    configs = step_configs(opts)  # type: ignore[arg-type]
    assert [c.rate for c in configs] == [100.0, 200.0, 300.0, 400.0]
    assert all(c.duration == 30.0 and c.p1_share == surge.p1_share for c in configs)
    seeds = [c.seed for c in configs]
    assert len(set(seeds)) == len(seeds) and surge.seed not in seeds
