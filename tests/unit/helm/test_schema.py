"""values.schema.json is strict everywhere, and the rendered manifests pass kubernetes-validate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

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


@pytest.mark.timeout(600)
def test_rendered_production_passes_kubernetes_validate_strict(helm: Path, tmp_path: Path) -> None:
    rendered = tmp_path / "production.yaml"
    cmd = [
        str(helm),
        "template",
        "cityops",
        str(ROOT / "helm" / "cityops"),
        "--kube-version",
        "1.35.0",
        "-f",
        str(ROOT / "deploy" / "values" / "production.yaml"),
        "--api-versions",
        "keda.sh/v1alpha1",
        "--api-versions",
        "kafka.strimzi.io/v1beta2",
        "--api-versions",
        "monitoring.coreos.com/v1",
    ]
    rendered.write_text(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(ROOT / "helm" / "validate_manifests.py"), "-k", "1.35.0", str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KafkaTopic=14" in result.stdout and "ScaledObject=4" in result.stdout


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
