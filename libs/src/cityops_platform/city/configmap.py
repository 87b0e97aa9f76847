"""A city folder as one Kubernetes ConfigMap (``cityops city-configmap``): a key per file, with
"/" written as "__" because ConfigMap keys hold no slashes. Mounted by the chart (``city.configMap``),
the flat folder is read through ``City.file`` like a nested one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cityops_platform.city.loader import parse_city
from cityops_platform.city.models import FLAT_SEPARATOR

MAX_BYTES = 1_000_000  # a ConfigMap holds at most 1 MiB


def city_configmap(folder: Path, *, name: str, namespace: str = "") -> dict[str, Any]:
    """The ConfigMap of ``folder`` (validated first: a broken manifest is refused here, not in the pod)."""
    import yaml

    parse_city(yaml.safe_load((folder / "city.yaml").read_text(encoding="utf-8")) or {},
               name=folder.name, path=folder)
    data: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(folder).as_posix().replace("/", FLAT_SEPARATOR)
        data[key] = path.read_text(encoding="utf-8")
    size = sum(len(v.encode()) for v in data.values())
    if size > MAX_BYTES:
        raise ValueError(f"{folder}: {size} bytes do not fit a ConfigMap (1 MiB); mount it as a volume instead")
    metadata: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "cityops",
                                                         "cityops.io/city": folder.name}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
