"""The chart's alert rules and Grafana dashboard: rendered by the real helm, checked by the real promtool.

- ``promtool check rules`` on the rendered PrometheusRule (syntax, templates in annotations);
- ``promtool test rules`` with alerts_test.yaml: each alert fires on its case and stays silent
  below its threshold (annotations are stripped for the unit test only: promtool compares them
  verbatim; their templates are still checked by ``check rules``);
- every dashboard query, with Grafana's variables filled in, must parse as PromQL (promtool);
- the guards: no PrometheusRule without the Prometheus Operator API or when disabled.

That every metric these name is really exported is proven against the running services in
tests/integration/observability/test_metrics_exported.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import STRIMZI_ONLY

pytestmark = pytest.mark.timeout(1800)  # the first run may build helm and promtool

ROOT = Path(__file__).resolve().parents[3]
PROMTOOL_SCRIPT = ROOT / "helm" / "promtool.sh"
ALERTS_TEST = Path(__file__).with_name("alerts_test.yaml")
Manifest = list[dict[str, Any]]
Render = Callable[..., Manifest]
ALERTS = {"CityOpsP1Unassigned", "CityOpsSlaBreaches", "CityOpsConsumerLagHigh", "CityOpsOutboxBacklogOld",
          "CityOpsDeliveryFailureRate", "CityOpsAuthDenialSpike", "CityOpsApiDown", "CityOpsWorkerDown"}
# Grafana's variables, replaced by values Prometheus accepts so promtool can parse the queries.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m", "$namespace": "cityops"}


@pytest.fixture(scope="session")
def promtool() -> Path:
    go_available = shutil.which("go") or Path("/usr/local/go/bin/go").exists()
    result = (subprocess.run(["bash", str(PROMTOOL_SCRIPT)], capture_output=True, text=True, check=False)
              if go_available else None)
    if result is None or result.returncode != 0:
        message = f"promtool missing and could not be built (bash helm/promtool.sh): {result and result.stderr[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return Path(result.stdout.strip().splitlines()[-1])


def _one(manifest: Manifest, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifest if doc["kind"] == kind]


def _rules(render: Render) -> dict[str, Any]:
    rules = _one(render(None), "PrometheusRule")
    assert len(rules) == 1, "the default values with the Prometheus Operator API render one PrometheusRule"
    return dict(rules[0]["spec"])


def _dashboard(render: Render) -> dict[str, Any]:
    maps = [doc for doc in _one(render(None), "ConfigMap") if doc["metadata"]["name"].endswith("-dashboard")]
    assert len(maps) == 1
    return dict(json.loads(maps[0]["data"]["cityops-overview.json"]))


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, check=False, cwd=cwd)


def test_rules_render_only_with_the_prometheus_operator_api_and_when_enabled(render: Render) -> None:
    assert not _one(render(None, apis=STRIMZI_ONLY), "PrometheusRule")
    assert not _one(render(None, set_values=("monitoring.prometheusRule.enabled=false",)), "PrometheusRule")
    assert not [d for d in render(None, set_values=("monitoring.grafanaDashboard.enabled=false",))
                if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    spec = _rules(render)
    assert {r["alert"] for g in spec["groups"] for r in g["rules"]} == ALERTS


def test_every_alert_is_scoped_to_the_release_and_explained_in_both_languages(render: Render) -> None:
    for group in _rules(render)["groups"]:
        for rule in group["rules"]:
            assert 'namespace="cityops"' in rule["expr"] and 'job=~"cityops-.+"' in rule["expr"], rule["alert"]
            assert rule["labels"]["severity"] in {"critical", "warning"}
            text = rule["annotations"]["summary"] + rule["annotations"]["description"]
            assert re.search(r"[ạảãàáâậầấẩẫăắằặẳẵđơớờợởỡưứừựửữệềếểễộồốổỗ]", text), rule["alert"]  # Vietnamese
            assert re.search(r"\b(the|is|of|has|no|calls|records|deadlines|delivery)\b", text), rule["alert"]


def test_alert_rules_pass_promtool_check_and_unit_tests(render: Render, promtool: Path, tmp_path: Path) -> None:
    spec = _rules(render)
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    checked = _promtool(promtool, "check", "rules", "full.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout, checked.stdout

    bare = {"groups": [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
                       for g in spec["groups"]]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(bare, allow_unicode=True))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yaml")
    tested = _promtool(promtool, "test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_alerts_test_covers_every_alert_firing_and_silent() -> None:
    cases = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    firing = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert firing == ALERTS
    # Silence is asserted either by an empty expectation or by a below-threshold series in the case.
    for case in cases:
        assert len(case["input_series"]) >= 2, case["name"]


def test_dashboard_is_a_labelled_configmap_whose_queries_parse(render: Render, promtool: Path,
                                                               tmp_path: Path) -> None:
    maps = [d for d in _one(render(None), "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert maps[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = _dashboard(render)
    assert dashboard["uid"] == "cityops-overview"
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 15
    rules = []
    for i, query in enumerate(queries):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"unknown Grafana variable in {query}"
        rules.append({"record": f"cityops:dashboard_query_{i}", "expr": query})
    (tmp_path / "dashboard.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool(promtool, "check", "rules", "dashboard.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("bad", ["monitoring.prometheusRule.thresholds.deliveryFailureRatio=2",
                                 "monitoring.prometheusRule.thresholds.apiDownFor=soon",
                                 "monitoring.grafanaDashboard.colour=red"])
def test_schema_rejects_bad_monitoring_values(helm: Path, bad: str) -> None:
    result = subprocess.run([str(helm), "template", "cityops", str(ROOT / "helm" / "cityops"), "--kube-version",
                             "1.35.0", "--set", bad], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "schema" in result.stderr.lower(), result.stderr
