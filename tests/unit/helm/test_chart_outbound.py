"""The chart never lets webhooks or partner CADs reach non-public addresses: the outbound allow-list
(``CITYOPS_OUTBOUND_ALLOW_CIDRS``, for the local devstack and tests only) is set by no rendered pod."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pod_specs(manifest: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in manifest:
        if doc["kind"] in ("Deployment", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def _env_names(spec: dict[str, Any]) -> set[str]:
    return {e["name"] for c in spec.get("containers", []) + spec.get("initContainers", []) for e in c.get("env", [])}


@pytest.mark.parametrize("values", ["production", "staging", None])
def test_no_pod_sets_the_outbound_allow_list(render: Any, values: str | None) -> None:
    manifest = render(values)
    specs = dict(pod_specs(manifest))
    assert any("notifications-worker" in name for name in specs)
    for name, spec in specs.items():
        assert "CITYOPS_OUTBOUND_ALLOW_CIDRS" not in _env_names(spec), name
    for doc in manifest:
        if doc["kind"] in ("ConfigMap", "Secret"):
            assert "CITYOPS_OUTBOUND_ALLOW_CIDRS" not in (doc.get("data") or {}), doc["metadata"]["name"]
            assert "CITYOPS_OUTBOUND_ALLOW_CIDRS" not in (doc.get("stringData") or {}), doc["metadata"]["name"]
