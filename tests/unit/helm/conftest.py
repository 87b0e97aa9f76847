"""Fixtures that render the real chart with the real helm binaries (Helm 4 and Helm 3, built by helm/check.sh).

Every chart test runs once per Helm version (the ``helm`` fixture is parametrised). With CI=true a
missing helm is an error, never a skip: the chart's guarantees are only proven by rendering it.
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
FEATURES = ROOT / "helm" / "test-values" / "features.yaml"
TOOLS_BIN = ROOT / ".cache" / "tools" / "bin"
HELM_VERSIONS = ("v4.3.1", "v3.22.0")  # the same as helm/check.sh
KUBE_VERSION = "1.35.0"
OTHER_APIS = ("keda.sh/v1alpha1", "monitoring.coreos.com/v1", "gateway.networking.k8s.io/v1")
# What a cluster with Strimzi 1.x (v1 only) or 0.4x/0.5x (v1beta2) and the other operators serves.
APIS_V1 = ("kafka.strimzi.io/v1", *OTHER_APIS)
APIS_V1BETA2 = ("kafka.strimzi.io/v1beta2", *OTHER_APIS)
STRIMZI_ONLY = ("kafka.strimzi.io/v1",)
CRDS = Path(os.environ.get("CITYOPS_K8S_CRDS", str(ROOT.parent / "shared" / "k8s-crds")))

Manifest = list[dict[str, Any]]


def helm_path(version: str) -> Path:
    return TOOLS_BIN / f"helm-{version}"


def _find_or_build_helms() -> bool:
    if all(helm_path(v).exists() for v in HELM_VERSIONS):
        return True
    go_available = shutil.which("go") or Path("/usr/local/go/bin/go").exists()
    if go_available:
        # A few minutes per version the first time; cached under .cache/tools afterwards.
        subprocess.run(["bash", str(ROOT / "helm" / "check.sh"), "--build-helm"], check=False)
    return all(helm_path(v).exists() for v in HELM_VERSIONS)


@pytest.fixture(scope="session")
def helms() -> dict[str, Path]:
    """Both helm binaries by version."""
    if not _find_or_build_helms():
        message = "helm binaries missing and could not be built (bash helm/check.sh --build-helm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {v: helm_path(v) for v in HELM_VERSIONS}


@pytest.fixture(scope="session")
def cert_manager_crds() -> Path:
    """cert-manager's real CRDs, fetched by helm/check.sh from the Go module proxy (cached, never vendored)."""
    done = subprocess.run(["bash", str(ROOT / "helm" / "check.sh"), "--cert-manager-crds"],
                          capture_output=True, text=True, check=False)
    folder = Path(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    if done.returncode != 0 or folder is None or not (folder / "crd-certificates.yaml").is_file():
        message = f"cert-manager CRDs unavailable (bash helm/check.sh --cert-manager-crds): {done.stderr[-400:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session", params=HELM_VERSIONS)
def helm(request: pytest.FixtureRequest, helms: dict[str, Path]) -> Path:
    return helms[request.param]


def helm_template(
    helm: Path,
    values: str | None = "production",
    *,
    apis: tuple[str, ...] = APIS_V1,
    set_values: tuple[str, ...] = (),
    files: tuple[Path, ...] = (),
    kube_version: str = KUBE_VERSION,
) -> subprocess.CompletedProcess[str]:
    cmd = [str(helm), "template", "cityops", str(CHART), "--namespace", "cityops", "--kube-version", kube_version]
    if values:
        cmd += ["-f", str(VALUES / f"{values}.yaml")]
    for path in files:
        cmd += ["-f", str(path)]
    for api in apis:
        cmd += ["--api-versions", api]
    for item in set_values:
        cmd += ["--set", item]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., Manifest]:
    """render(values_file, apis=APIS_V1, set_values=(), files=()) -> list of rendered objects (cached)."""
    cache: dict[tuple[Any, ...], Manifest] = {}

    def _render(
        values: str | None = "production",
        *,
        apis: tuple[str, ...] = APIS_V1,
        set_values: tuple[str, ...] = (),
        files: tuple[Path, ...] = (),
    ) -> Manifest:
        key = (values, apis, set_values, files)
        if key not in cache:
            result = helm_template(helm, values, apis=apis, set_values=set_values, files=files)
            assert result.returncode == 0, result.stderr
            cache[key] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_failure(helm: Path) -> Callable[..., str]:
    """render_failure(values_file, apis=..., set_values=...) -> helm's error output; the render must fail."""

    def _fail(values: str | None = "production", **kwargs: Any) -> str:
        result = helm_template(helm, values, **kwargs)
        assert result.returncode != 0, f"rendered, but must fail: {kwargs}"
        return result.stderr

    return _fail
