"""The Open311 service catalog: service codes ↔ the city's category codes and subcategories (data).

Names and descriptions are per language: inline (``name: {vi: …, en: …}``) and/or one file per
language beside the catalogue (``open311_services.<lang>.yaml``: ``services: {code: {name,
description}}``), so adding a language is adding a file. A service's group is its category's name
in the city's registry (city.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.open311.attributes import Attribute
from cityops_platform.city import CodeRegistry, current_city

CATEGORY_CODES = CodeRegistry.categories(current_city())


def incident_category(incident: incidents_pb2.Incident) -> str:
    """An incident snapshot's category code (its own, or its enum's for an older producer)."""
    if incident.category_code:
        return incident.category_code
    name = incidents_pb2.Category.Name(incident.category).removeprefix("CATEGORY_") if incident.category else ""
    return CATEGORY_CODES.by_enum.get(name, "")


def pick(texts: dict[str, str], lang: str) -> str:
    """``texts`` in ``lang``, else the city's default language, else any."""
    return current_city().text(texts, lang)

@dataclass(frozen=True)
class Open311Service:
    code: str
    category: str  # the city's category code
    subcategory: str
    names: dict[str, str]  # language -> name
    descriptions: dict[str, str]
    keywords: tuple[str, ...]
    attributes: tuple[Attribute, ...] = ()
    groups: dict[str, str] | None = None  # language -> group name; None = the category's names

    @property
    def metadata(self) -> bool:
        """True when the service asks extra questions (GET its service definition)."""
        return bool(self.attributes)

    def definition(self, lang: str) -> dict[str, Any]:
        """The GeoReport v2 service definition: the attributes in their presentation order."""
        ordered = sorted(self.attributes, key=lambda a: a.order)
        return {"service_code": self.code, "attributes": [a.to_json(lang) for a in ordered]}

    def name(self, lang: str) -> str:
        return pick(self.names, lang)

    def to_json(self, lang: str) -> dict[str, Any]:
        """The GeoReport v2 ``services.json`` entry."""
        category = current_city().category(self.category)
        return {
            "service_code": self.code,
            "service_name": self.name(lang),
            "description": pick(self.descriptions, lang),
            "metadata": self.metadata,
            "type": "realtime",
            "keywords": ",".join(self.keywords),
            "group": pick(self.groups or (dict(category.names) if category else {}), lang) or self.category,
        }


class ServiceCatalog:
    """Every Open311 service, in file order."""

    def __init__(self, services: list[Open311Service], texts: dict[str, dict[str, Any]] | None = None) -> None:
        self.services = services
        self.texts = texts or {}  # language -> that language's file (status_notes, location_notes)
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
        city = current_city()
        overlays = {lang: language_file(path, lang).get("services") or {} for lang in city.languages}
        groups: dict[str, dict[str, str]] = {str(c): {str(k): str(v) for k, v in names.items()}
                                             for c, names in (raw.get("groups") or {}).items()}
        for lang, texts in ((lang, language_file(path, lang).get("groups") or {}) for lang in city.languages):
            for c, name in texts.items():
                groups.setdefault(str(c), {})[lang] = str(name)
        services = []
        for entry in raw.get("services", []):
            code = str(entry["code"])
            category = str(entry["category"])
            if category not in city.category_codes:
                raise ValueError(f"open311 service {code}: unknown category {category!r} "
                                 f"(the city's codes: {', '.join(city.category_codes)})")
            names = {str(k): str(v) for k, v in (entry.get("name") or {}).items()}
            descriptions = {str(k): str(v) for k, v in (entry.get("description") or {}).items()}
            for lang, texts in overlays.items():
                if code in texts:
                    names[lang] = str(texts[code].get("name") or names.get(lang, ""))
                    descriptions[lang] = str(texts[code].get("description") or descriptions.get(lang, ""))
            if city.default_language not in names:
                raise ValueError(f"open311 service {code}: no name in the default language {city.default_language}")
            services.append(
                Open311Service(
                    code=code,
                    category=category,
                    subcategory=str(entry.get("subcategory", "")),
                    names=names,
                    descriptions=descriptions,
                    keywords=tuple(str(k) for k in entry.get("keywords", [])),
                    attributes=tuple(Attribute.from_yaml(a, str(entry["code"])) for a in entry.get("attributes") or []),
                    groups=groups.get(category),
                )
            )
        return cls(services, {lang: language_file(path, lang) for lang in city.languages})

    def get(self, code: str) -> Open311Service | None:
        return self._by_code.get(code)

    @property
    def categories(self) -> list[str]:
        return sorted({s.category for s in self.services})

    def for_incident(self, category: str, subcategory: str) -> Open311Service | None:
        """The service an incident belongs to: exact subcategory first, then its category's first."""
        same_category = [s for s in self.services if s.category == category]
        for service in same_category:
            if service.subcategory == subcategory:
                return service
        return same_category[0] if same_category else None


def language_file(catalogue: Path, lang: str) -> dict[str, Any]:
    """The per-language file beside the catalogue (``open311_services.<lang>.yaml``); {} when absent."""
    path = catalogue.with_name(f"{catalogue.stem}.{lang}{catalogue.suffix}")
    if not path.is_file():
        return {}
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data
