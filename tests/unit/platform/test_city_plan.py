"""The one launcher's plan (cityops_devtools.city): command lines, ports and environment per
component, before anything starts; and the dev tooling stays out of the images."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cityops_devtools.city import City, cli_argv
from cityops_platform.settings import DEFAULT_GRPC_PORTS, Settings

ROOT = Path(__file__).resolve().parents[3]


def _settings() -> Settings:
    return Settings(kafka_bootstrap="127.0.0.1:19092", database_url="postgresql://u@127.0.0.1:15432/cityops",
                    topic_prefix="t1.", jwt_secret="k" * 48)


def test_every_process_runs_the_cityops_cli() -> None:
    assert cli_argv("api", "incidents") == [sys.executable, "-m", "cityops_platform.cli", "serve", "incidents"]
    assert cli_argv("serve", "gateway")[-2:] == ["serve", "gateway"]
    assert cli_argv("worker", "dispatch")[-2:] == ["worker", "dispatch"]


def test_free_ports_are_told_to_each_process_with_every_other_address(tmp_path: Path) -> None:
    city = City(tmp_path / "city", _settings())
    api = city.add_api("incidents", CITYOPS_LOG_LEVEL="DEBUG")
    worker = city.add_worker("incidents")
    gateway = city.add_gateway()
    env = city.env_for(api)
    assert env["CITYOPS_GRPC_PORT"] == str(api.grpc_port) and env["CITYOPS_METRICS_PORT"] == str(api.metrics_port)
    assert env["CITYOPS_DISPATCH_ADDR"] == city.addr("dispatch") and env["CITYOPS_LOG_LEVEL"] == "DEBUG"
    assert env["CITYOPS_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092" and env["CITYOPS_TOPIC_PREFIX"] == "t1."
    assert env["CITYOPS_DATA_DIR"] == str(tmp_path / "city" / "data-incidents-api")
    assert len({api.grpc_port, api.metrics_port, worker.metrics_port, gateway.http_port, gateway.metrics_port}) == 5
    assert worker.endpoint == f"http://127.0.0.1:{worker.metrics_port}/healthz"
    assert gateway.health_url == f"{city.gateway_url}/healthz" and gateway.kind == "gateway"
    assert not (tmp_path / "city").exists(), "planning starts nothing and writes nothing"


def test_fixed_ports_are_the_documented_defaults_and_no_port_is_overridden(tmp_path: Path) -> None:
    settings = _settings()
    city = City(tmp_path, settings, base_env={}, fixed_ports=True)
    api = city.add_api("dispatch")
    worker = city.add_worker("dispatch")
    assert api.grpc_port == DEFAULT_GRPC_PORTS["dispatch"] and api.endpoint == "grpc://127.0.0.1:50052"
    assert api.ports == [50052, settings.service_metrics_port("dispatch")]
    assert worker.ports == [settings.service_metrics_port("dispatch", worker=True)]
    env = city.env_for(api)
    assert "CITYOPS_GRPC_PORT" not in env and "CITYOPS_INCIDENTS_ADDR" not in env


def test_settings_are_read_at_start_not_at_plan(tmp_path: Path) -> None:
    # `cityops up` plans (and checks ports) before its devstack exists, then points the city at it.
    city = City(tmp_path, _settings(), base_env={})
    api = city.add_api("sensors")
    city.settings = Settings(kafka_bootstrap="127.0.0.1:29092", database_url="postgresql://u@h:1/d",
                             jwt_secret="j" * 48)
    assert city.env_for(api)["CITYOPS_KAFKA_BOOTSTRAP"] == "127.0.0.1:29092"


def test_the_images_carry_no_dev_tooling() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, flags=re.M)
    assert "libs" in copied and "services" in copied
    assert not any(c.startswith("devtools") for c in copied)
    runtime = {p.name for p in (ROOT / "libs/src/cityops_platform").iterdir()}
    assert not runtime & {"devstack", "localcity.py", "supervision.py", "testing.py"}


def test_cityops_up_without_the_dev_package_says_so_in_both_languages() -> None:
    import subprocess

    script = ("import sys; sys.modules['cityops_devtools'] = None\n"
              "from cityops_platform.cli import main\nraise SystemExit(main(['up']))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert "cần gói công cụ phát triển cityops-devtools" in result.stderr
    assert "needs the cityops-devtools package" in result.stderr and "Traceback" not in result.stderr
