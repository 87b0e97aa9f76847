"""The chart mounts a city without a new image: from a ConfigMap (a key per file, "/" written as
"__") or any volume, with CITYOPS_CITY and CITYOPS_CITIES_DIR set for every process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import helm_template

Manifest = list[dict[str, Any]]
Render = Callable[..., Manifest]
pytestmark = pytest.mark.timeout(1200)
DEPLOYMENTS = ("incidents-api", "incidents-worker", "dispatch-api", "dispatch-worker", "sensors-api",
               "sensors-worker", "notifications-api", "notifications-worker", "gateway-api")


def _pod(manifest: Manifest, deployment: str) -> dict[str, Any]:
    doc = next(d for d in manifest if d["kind"] == "Deployment" and d["metadata"]["name"] == f"cityops-{deployment}")
    return dict(doc["spec"]["template"]["spec"])


def _config(manifest: Manifest) -> dict[str, str]:
    doc = next(d for d in manifest if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "cityops-config")
    return dict(doc["data"])


def test_a_city_configmap_is_mounted_on_every_process_with_the_city_settings(render: Render) -> None:
    manifest = render(set_values=("city.name=eindhoven", "city.configMap=cityops-city-eindhoven"))
    config = _config(manifest)
    assert config["CITYOPS_CITY"] == "eindhoven" and config["CITYOPS_CITIES_DIR"] == "/etc/cityops/cities"
    for deployment in DEPLOYMENTS:
        pod = _pod(manifest, deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert volumes["city"] == {"name": "city", "configMap": {"name": "cityops-city-eindhoven"}}, deployment
        assert mounts["city"] == {"name": "city", "mountPath": "/etc/cityops/cities/eindhoven", "readOnly": True}


def test_a_city_volume_is_mounted_as_given(render: Render) -> None:
    manifest = render(set_values=("city.name=eindhoven", "city.volume.persistentVolumeClaim.claimName=ehv-city"))
    pod = _pod(manifest, "gateway-api")
    assert {v["name"]: v for v in pod["volumes"]}["city"] == {
        "name": "city", "persistentVolumeClaim": {"claimName": "ehv-city"}}
    assert _config(manifest)["CITYOPS_CITIES_DIR"] == "/etc/cityops/cities"


def test_by_default_the_image_city_is_used_and_nothing_is_mounted(render: Render) -> None:
    manifest = render()
    assert "CITYOPS_CITY" not in _config(manifest) and "CITYOPS_CITIES_DIR" not in _config(manifest)
    assert "city" not in {v["name"] for v in _pod(manifest, "incidents-api")["volumes"]}
    named = render(set_values=("city.name=eindhoven",))  # a city the image carries: only the name
    assert _config(named)["CITYOPS_CITY"] == "eindhoven" and "CITYOPS_CITIES_DIR" not in _config(named)


@pytest.mark.parametrize("values", [("city.configMap=x",), ("city.name=Bad_Name",),
                                    ("city.name=a", "city.configMap=x", "city.volume.emptyDir.medium=")])
def test_a_mount_without_a_name_or_a_bad_name_is_refused(helm: Path, values: tuple[str, ...]) -> None:
    result = helm_template(helm, set_values=values)
    assert result.returncode != 0 and "city" in result.stderr
