"""The city's Open311 endpoint as data: jurisdiction_id and the Service Discovery document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityops_gateway.open311.mapping import Open311Error

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MIME_TYPES = ("text/xml", "application/json")


@dataclass(frozen=True)
class Endpoint:
    jurisdiction_id: str
    jurisdiction_required: bool
    changeset: str
    contact: str
    key_service: str
    type: str = "production"

    @classmethod
    def load(cls, path: Path, *, jurisdiction_override: str = "") -> Endpoint:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        discovery = raw.get("discovery") or {}
        endpoint_type = str(discovery.get("type", "production"))
        if endpoint_type not in ("production", "test"):
            raise ValueError(f"{path}: discovery.type must be production or test")
        return cls(
            jurisdiction_id=jurisdiction_override or str(raw.get("jurisdiction_id") or ""),
            jurisdiction_required=bool(raw.get("jurisdiction_required", False)),
            changeset=str(discovery.get("changeset", "")),
            contact=" ".join(str(discovery.get("contact", "")).split()),
            key_service=" ".join(str(discovery.get("key_service", "")).split()),
            type=endpoint_type,
        )

    def check_jurisdiction(self, params: Mapping[str, Any]) -> None:
        """The spec's jurisdiction errors: 404 for another jurisdiction, 400 for a missing one
        (only when configured as required). Unconfigured, the parameter is ignored."""
        raw = params.get("jurisdiction_id")
        given = raw.strip() if isinstance(raw, str) else ""
        if not self.jurisdiction_id:
            return
        if not given:
            if self.jurisdiction_required:
                raise Open311Error(400, f"jurisdiction_id: bắt buộc (required), ví dụ {self.jurisdiction_id}")
            return
        if given.lower() != self.jurisdiction_id.lower():
            raise Open311Error(404, f"jurisdiction_id không tồn tại (jurisdiction_id not found): {given}")

    def discovery(self, endpoint_url: str) -> dict[str, Any]:
        """The discovery document (JSON by the Spark convention; XML from the same body)."""
        return {
            "changeset": self.changeset,
            "contact": self.contact,
            "key_service": self.key_service,
            "endpoints": [{
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": self.changeset,
                "type": self.type,
                "formats": list(MIME_TYPES),
            }],
        }
