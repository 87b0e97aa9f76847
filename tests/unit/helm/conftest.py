"""Fixtures that render the real chart with the real helm binary (built by helm/check.sh).

With CI=true a missing helm is an error, never a skip: the chart's guarantees are only proven by
rendering it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "cityops"
VALUES = ROOT / "deploy" / "values"
HELM_CACHE = ROOT / ".cache" / "tools" / "bin" / "helm"
KUBE_VERSION = "1.35.0"
CRD_APIS = ("keda.sh/v1alpha1", "monitoring.coreos.com/v1", "kafka.strimzi.io/v1beta2")

Manifest = list[dict[str, Any]]


def _find_or_build_helm() -> Path | None:
    if HELM_CACHE.exists():
        return HELM_CACHE
    go_available = shutil.which("go") or Path("/usr/local/go/bin/go").exists()
    if go_available:
        # ~2-3 minutes the first time; cached under .cache/tools afterwards.
        subprocess.run(["bash", str(ROOT / "helm" / "check.sh"), "--build-helm"], check=False)
    return HELM_CACHE if HELM_CACHE.exists() else None


@pytest.fixture(scope="session")
def helm() -> Path:
    path = _find_or_build_helm()
    if path is None:
        message = "helm binary missing and could not be built (bash helm/check.sh --build-helm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., Manifest]:
    """render(values_file, crds=True, set_values=()) -> list of rendered objects (cached)."""
    cache: dict[tuple[Any, ...], Manifest] = {}

    def _render(values: str | None = "production", *, crds: bool = True, set_values: tuple[str, ...] = ()) -> Manifest:
        key = (values, crds, set_values)
        if key not in cache:
            cmd = [
                str(helm),
                "template",
                "cityops",
                str(CHART),
                "--namespace",
                "cityops",
                "--kube-version",
                KUBE_VERSION,
            ]
            if values:
                cmd += ["-f", str(VALUES / f"{values}.yaml")]
            if crds:
                for api in CRD_APIS:
                    cmd += ["--api-versions", api]
            for item in set_values:
                cmd += ["--set", item]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stderr
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]

    return _render
