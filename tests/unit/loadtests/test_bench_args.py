"""``python -m loadtests.bench`` refuses step rates it could not run, before it starts a city."""

from __future__ import annotations

import pytest
from loadtests.bench.__main__ import parse


def test_step_rates_are_parsed_as_numbers() -> None:
    args = parse(["--surge-steps", "100, 200,400", "--step-rates", "50000"])
    assert args.surge_steps == [100.0, 200.0, 400.0]
    assert args.step_rates == [50000.0]


def test_an_empty_list_means_no_step_up() -> None:
    assert parse(["--surge-steps", ""]).surge_steps == []


@pytest.mark.parametrize("text", ["0", "100,-5", "nan", "100,abc"])
def test_a_rate_that_cannot_run_is_refused_with_a_clear_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(["--surge-steps", text])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--surge-steps" in err and ("phải > 0" in err or "không hợp lệ" in err)


def test_city_settings_are_collected_by_name() -> None:
    args = parse(["--city-env", "CITYOPS_STREAM_BATCH_MS=50", "--city-env", "CITYOPS_OUTBOX_MIN_DRAIN_MS=25"])
    assert dict(args.city_env) == {"CITYOPS_STREAM_BATCH_MS": "50", "CITYOPS_OUTBOX_MIN_DRAIN_MS": "25"}
    assert parse([]).city_env == []


@pytest.mark.parametrize("text", ["STREAM_BATCH_MS=50", "CITYOPS_STREAM_BATCH_MS", "CITYOPS_=1", "CITYOPS_A-B=1"])
def test_a_city_setting_that_is_not_cityops_name_value_is_refused(text: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(["--city-env", text])
    assert exit_.value.code == 2
    assert "CITYOPS_NAME=value" in capsys.readouterr().err
