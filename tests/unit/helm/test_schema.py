"""values.schema.json is strict everywhere, and the rendered manifests pass kubernetes-validate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import APIS_V1, APIS_V1BETA2, CRDS, FEATURES, helm_template

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "helm" / "cityops" / "values.schema.json").read_text(encoding="utf-8"))


def object_schemas(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from object_schemas(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from object_schemas(value, f"{path}[{index}]")


def test_every_object_in_the_values_schema_declares_additional_properties() -> None:
    objects = list(object_schemas(SCHEMA))
    assert len(objects) > 40
    for path, node in objects:
        assert "additionalProperties" in node, path
        # Only typed maps (labels, annotations, env) may take free keys, and only string values.
        if node["additionalProperties"] is not False:
            assert node["additionalProperties"] == {"type": "string"}, path


@pytest.mark.parametrize("env", ["local", "staging", "production"])
def test_example_values_merged_over_defaults_satisfy_the_schema(env: str) -> None:
    defaults = yaml.safe_load((ROOT / "helm" / "cityops" / "values.yaml").read_text(encoding="utf-8"))
    override = yaml.safe_load((ROOT / "deploy" / "values" / f"{env}.yaml").read_text(encoding="utf-8"))

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in extra.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    jsonschema.Draft202012Validator(SCHEMA).validate(merge(defaults, override))


def validate(files: list[Path], *crd_dirs: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "helm" / "validate_manifests.py"), "-k", "1.35.0"]
    for name in crd_dirs:
        cmd += ["--crds", str(CRDS / name)]
    return subprocess.run([*cmd, *map(str, files)], capture_output=True, text=True, check=False)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    ("apis", "crd_dirs"),
    [
        (APIS_V1, ("strimzi-1.2.0", "keda-v2.20.2")),
        (APIS_V1, ("strimzi-0.51.0", "keda-v2.20.2")),  # 0.51 serves v1 beside v1beta2
        (APIS_V1BETA2, ("strimzi-0.51.0", "keda-v2.20.2")),
    ],
    ids=["v1-on-strimzi-1.2.0", "v1-on-strimzi-0.51.0", "v1beta2-on-strimzi-0.51.0"],
)
@pytest.mark.parametrize("values", ["local", "staging", "production"])
def test_every_rendered_object_passes_kubernetes_validate_strict_and_the_real_crds(
    helm: Path, tmp_path: Path, apis: tuple[str, ...], crd_dirs: tuple[str, ...], values: str
) -> None:
    rendered = tmp_path / f"{values}.yaml"
    files = (FEATURES,) if values == "production" else ()
    result = helm_template(helm, values, apis=apis, files=files)
    assert result.returncode == 0, result.stderr
    rendered.write_text(result.stdout, encoding="utf-8")
    checked = validate([rendered], *crd_dirs)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "KafkaTopic=14" in checked.stdout
    if values != "local":  # local has no SASL (so no KafkaUser) and no autoscaling
        assert "KafkaUser=9" in checked.stdout and "ScaledObject=4" in checked.stdout
    if values == "production":
        assert "Ingress=1" in checked.stdout and "HTTPRoute=1" in checked.stdout


def _cr(api: str, kind: str, spec: str) -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: t, labels: {{strimzi.io/cluster: k}}}}\nspec: {spec}\n"


@pytest.mark.parametrize(
    ("crd_dir", "document", "error"),
    [
        # Strimzi 1.x serves only v1: what the chart rendered before this release is refused there.
        ("strimzi-1.2.0", _cr("kafka.strimzi.io/v1beta2", "KafkaTopic", "{partitions: 1}"), "is not served by the CRD"),
        ("strimzi-1.2.0", _cr("kafka.strimzi.io/v1", "KafkaTopic", "{partitions: 0}"), "less than the minimum"),
        ("strimzi-1.2.0", _cr("kafka.strimzi.io/v1", "KafkaTopic", "{partitons: 3}"), "'partitons' was unexpected"),
        (
            "strimzi-1.2.0",
            _cr("kafka.strimzi.io/v1", "KafkaUser",
                "{authentication: {type: scram-sha-512}, authorization: {type: simple, acls: "
                "[{resource: {type: topic, name: x}, operations: [Scribble]}]}}"),
            "'Scribble' is not one of",
        ),
        (
            "keda-v2.20.2",
            "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s}\n"
            "spec: {scaleTargetRef: {name: d}, triggers: [{type: kafka, metadata: {}}], minReplicaCnt: 1}\n",
            "'minReplicaCnt' was unexpected",
        ),
    ],
    ids=["v1beta2-on-1.2.0", "minimum", "unknown-field", "acl-enum", "keda-unknown-field"],
)
def test_real_crds_reject_what_the_operators_would(tmp_path: Path, crd_dir: str, document: str, error: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(document, encoding="utf-8")
    result = validate([bad], crd_dir)
    assert result.returncode == 1 and error in result.stdout, result.stdout + result.stderr


def test_real_crds_accept_free_form_topic_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        _cr("kafka.strimzi.io/v1", "KafkaTopic", "{partitions: 3, config: {retention.ms: 1000, any.key: x}}"),
        encoding="utf-8",
    )
    result = validate([good], "strimzi-1.2.0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_an_unknown_field_and_an_unknown_kind(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}], typo: 1}\n---\n"
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: y}\nspec: {}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "helm" / "validate_manifests.py"), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "'typo' was unexpected" in result.stdout
    assert "Widget/y: unknown kind" in result.stdout


def test_the_chart_readme_lists_every_value() -> None:
    """helm/cityops/README.md names every value in values.yaml (services as ``services.<svc>``); a value
    may be covered by a documented parent (``migrations.resources`` covers its requests and limits)."""
    readme = (ROOT / "helm" / "cityops" / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z0-9_.<>-]+)`", readme))
    defaults = yaml.safe_load((ROOT / "helm" / "cityops" / "values.yaml").read_text(encoding="utf-8"))

    def leaves(node: Any, path: list[str]) -> Iterator[list[str]]:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                yield from leaves(value, [*path, key])
        else:
            yield path

    missing = set()
    for path in leaves(defaults, []):
        if path[0] == "services" and len(path) > 2:
            path = ["services", "<svc>", *path[2:]]
        prefixes = {".".join(path[:n]) for n in range(min(2, len(path)), len(path) + 1)}
        if not prefixes & documented:
            missing.add(".".join(path))
    assert not missing, f"undocumented values: {sorted(missing)}"
    assert len(documented) > 150
