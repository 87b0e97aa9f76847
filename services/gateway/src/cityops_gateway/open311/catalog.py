"""The Open311 service catalog: service codes ↔ incident categories and subcategories (data file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.open311.attributes import Attribute

# Group names shown to citizens, by incident category (Vietnamese, English).
CATEGORY_GROUPS: dict[str, tuple[str, str]] = {
    "ADMINISTRATIVE_PROCEDURE": ("Thủ tục hành chính", "Administrative procedures"),
    "FIELD_REPORT": ("Hạ tầng đô thị", "Streets and public spaces"),
    "EMERGENCY_MEDICAL": ("Cấp cứu y tế", "Medical emergency"),
    "SECURITY": ("An ninh trật tự", "Public order"),
    "FIRE": ("Cháy nổ", "Fire"),
    "TRAFFIC_ACCIDENT": ("Giao thông", "Traffic"),
    "FLOOD": ("Ngập nước, thoát nước", "Flooding and drainage"),
    "ENVIRONMENT": ("Môi trường", "Environment"),
    "UTILITY_OUTAGE": ("Điện, nước", "Power and water"),
    "OTHER": ("Khác", "Other"),
}


@dataclass(frozen=True)
class Open311Service:
    code: str
    category: int  # incidents_pb2.Category value
    subcategory: str
    name_vi: str
    name_en: str
    description_vi: str
    description_en: str
    keywords: tuple[str, ...]
    attributes: tuple[Attribute, ...] = ()

    @property
    def metadata(self) -> bool:
        """True when the service asks extra questions (GET its service definition)."""
        return bool(self.attributes)

    def definition(self, lang: str) -> dict[str, Any]:
        """The GeoReport v2 service definition: the attributes in their presentation order."""
        ordered = sorted(self.attributes, key=lambda a: a.order)
        return {"service_code": self.code, "attributes": [a.to_json(lang) for a in ordered]}

    @property
    def category_name(self) -> str:
        return incidents_pb2.Category.Name(self.category).removeprefix("CATEGORY_")  # type: ignore[arg-type]

    def to_json(self, lang: str) -> dict[str, Any]:
        """The GeoReport v2 ``services.json`` entry."""
        en = lang == "en"
        group_vi, group_en = CATEGORY_GROUPS[self.category_name]
        return {
            "service_code": self.code,
            "service_name": self.name_en if en else self.name_vi,
            "description": self.description_en if en else self.description_vi,
            "metadata": self.metadata,
            "type": "realtime",
            "keywords": ",".join(self.keywords),
            "group": group_en if en else group_vi,
        }


class ServiceCatalog:
    """Every Open311 service, in file order."""

    def __init__(self, services: list[Open311Service]) -> None:
        self.services = services
        self._by_code = {s.code: s for s in services}
        if len(self._by_code) != len(services):
            raise ValueError("duplicate Open311 service_code in the catalog")
        for service in services:
            orders = [a.order for a in service.attributes]
            codes = [a.code for a in service.attributes]
            if len(set(orders)) != len(orders) or len(set(codes)) != len(codes) or any(o < 1 for o in orders):
                raise ValueError(f"{service.code}: attribute codes and orders must be unique, orders >= 1")

    @classmethod
    def load(cls, path: Path) -> ServiceCatalog:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        services = []
        for entry in raw.get("services", []):
            category = incidents_pb2.Category.Value(f"CATEGORY_{entry['category']}")
            services.append(
                Open311Service(
                    code=str(entry["code"]),
                    category=int(category),
                    subcategory=str(entry.get("subcategory", "")),
                    name_vi=entry["name"]["vi"],
                    name_en=entry["name"]["en"],
                    description_vi=entry["description"]["vi"],
                    description_en=entry["description"]["en"],
                    keywords=tuple(str(k) for k in entry.get("keywords", [])),
                    attributes=tuple(Attribute.from_yaml(a, str(entry["code"])) for a in entry.get("attributes") or []),
                )
            )
        return cls(services)

    def get(self, code: str) -> Open311Service | None:
        return self._by_code.get(code)

    @property
    def categories(self) -> list[int]:
        return sorted({s.category for s in self.services})

    def for_incident(self, category: int, subcategory: str) -> Open311Service | None:
        """The service an incident belongs to: exact subcategory first, then its category's first."""
        same_category = [s for s in self.services if s.category == category]
        for service in same_category:
            if service.subcategory == subcategory:
                return service
        return same_category[0] if same_category else None
