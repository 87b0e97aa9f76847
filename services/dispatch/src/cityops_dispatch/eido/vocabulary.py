"""The city's words → NENA's registry values, from ``config/eido.yaml`` (data, not code).

Every registry value in the file is checked against the registries of the standards folder when
it is loaded, so a typo fails at start, not in a partner's CAD.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cityops_dispatch.eido import standard as std
from cityops_platform.city import current_city
from cityops_platform.geo import NamedPoint

CONFIG_FILE = current_city().file("dispatch/eido.yaml")  # this process's city
_PLACE_PREFIXES = ("thành phố ", "tp. ", "tp ", "thị xã ", "tx. ", "phường ", "p. ", "xã ", "huyện ", "quận ",
                   "tỉnh ")


def place_key(name: str) -> str:
    """Case-folded NFC text without an administrative prefix. Diacritics are kept: "nở" ≠ "nổ"."""
    text = " ".join(unicodedata.normalize("NFC", name).casefold().split())
    for prefix in _PLACE_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):].strip()
    return text


# A named place of the city's gazetteer: where an EIDO civic address without coordinates is placed.
Place = NamedPoint


@dataclass(frozen=True)
class UnitStatusCodes:
    primary: str
    secondary: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Pure lookups, both directions."""

    category_types: dict[str, str]
    subcategory_types: dict[tuple[str, str], str]
    type_to_category: dict[str, tuple[str, str]]
    statuses: dict[str, tuple[str, ...]]
    import_statuses: dict[str, str]
    dispositions: dict[str, str]
    responder_types: frozenset[str]
    agency_types: dict[str, str]
    owner_roles: tuple[str, ...]
    responding_roles: tuple[str, ...]
    owner_agency_type: str
    unit_statuses: dict[str, UnitStatusCodes]
    resource_types: dict[str, str]
    default_resource_type: str
    resource_attributes: dict[str, tuple[str, ...]]
    places: dict[str, Place]
    fallback_place: Place
    fallback_category: str = "OTHER"  # what an unmapped incident type imports as (eido.yaml fallback_category)

    def incident_type(self, category: str, subcategory: str) -> str:
        """The Incident Type registry code of a city category/subcategory."""
        return self.subcategory_types.get((category, subcategory)) or self.category_types.get(
            category, self.category_types[self.fallback_category])

    def category_of(self, code: str) -> tuple[str, str]:
        """(category, subcategory) an Incident Type registry code imports as; the fallback when unmapped."""
        return self.type_to_category.get(code, (self.fallback_category, ""))

    def status_of(self, codes: list[str]) -> str:
        """The city status of the registry statuses listed: the first in ``import_statuses`` order wins."""
        return next((status for code, status in self.import_statuses.items() if code in codes), "")

    def locate(self, names: list[str]) -> tuple[Place, bool]:
        """The first known place among ``names`` (most specific first) and True; else the fallback and False."""
        for name in names:
            place = self.places.get(place_key(name))
            if place is not None:
                return place, True
        return self.fallback_place, False


def _check(standard: std.EidoStandard | None, registry_name: str, values: list[str], what: str) -> None:
    if standard is None:  # the standard's artefacts are not installed (std.installed_standard)
        return
    registry = standard.values(registry_name)
    bad = [v for v in values if v not in registry]
    if bad:
        raise ValueError(f"eido.yaml: {what}: not in the NENA registry: {bad}")


def vocabulary_from_dict(data: dict[str, Any], standard: std.EidoStandard | None) -> Vocabulary:
    """Build and check the vocabulary; raises ValueError naming any value outside the registries."""
    categories = set(current_city().category_codes)
    category_types: dict[str, str] = {}
    subcategory_types: dict[tuple[str, str], str] = {}
    type_to_category: dict[str, tuple[str, str]] = {}
    for category, spec in (data.get("incident_types") or {}).items():
        if category not in categories:
            raise ValueError(f"eido.yaml: unknown category {category!r}")
        category_types[category] = str(spec["type"])
        for sub, code in (spec.get("subcategories") or {}).items():
            subcategory_types[(category, str(sub))] = str(code)
            type_to_category.setdefault(str(code), (category, str(sub)))
        type_to_category.setdefault(str(spec["type"]), (category, ""))
        for code in spec.get("import") or []:
            type_to_category.setdefault(str(code), (category, ""))
    fallback_category = str(data.get("fallback_category") or "OTHER")
    if fallback_category not in category_types:
        raise ValueError(f"eido.yaml: incident_types needs the fallback category {fallback_category}")
    _check(standard, std.INCIDENT_TYPES, [*category_types.values(), *subcategory_types.values(),
                                                 *type_to_category], "incident_types")
    statuses = {k: tuple(str(x) for x in v) for k, v in (data.get("incident_statuses") or {}).items()}
    import_statuses = {str(k): str(v) for k, v in (data.get("import_statuses") or {}).items()}
    _check(standard, std.INCIDENT_STATUSES, [x for v in statuses.values() for x in v] + list(import_statuses),
           "incident_statuses")
    dispositions = {str(k): str(v) for k, v in (data.get("dispositions") or {}).items()}
    _check(standard, std.DISPOSITIONS, list(dispositions.values()), "dispositions")
    roles = data.get("agency_roles") or {}
    owner_roles = tuple(str(x) for x in roles.get("owner", []))
    responding_roles = tuple(str(x) for x in roles.get("responding", []))
    _check(standard, std.AGENCY_ROLES, [*owner_roles, *responding_roles], "agency_roles")
    responder_types = frozenset(str(x) for x in data.get("responder_types") or [])
    agency_types = {str(k): str(v) for k, v in (data.get("agency_types") or {}).items()}
    owner_type = str(data.get("owner_agency_type") or "psap")
    bad = [t for t in [*agency_types.values(), owner_type] if t.startswith("urn:") or t.split(".")[0]
           not in responder_types]
    if bad:
        raise ValueError(f"eido.yaml: agency types outside responder_types (or with the URN prefix): {bad}")
    unit_statuses = {
        str(k): UnitStatusCodes(str(v["primary"]), tuple(str(x) for x in v.get("secondary") or []))
        for k, v in (data.get("unit_statuses") or {}).items()
    }
    _check(standard, std.PRIMARY_UNIT_STATUSES, [u.primary for u in unit_statuses.values()], "unit_statuses")
    _check(standard, std.SECONDARY_UNIT_STATUSES, [x for u in unit_statuses.values() for x in u.secondary],
           "unit_statuses")
    if any(not u.secondary for u in unit_statuses.values()):
        raise ValueError("eido.yaml: every unit status needs at least one secondary value")
    resource_types = {str(k): str(v) for k, v in (data.get("resource_types") or {}).items()}
    default_resource = str(data.get("default_resource_type") or "")
    _check(standard, std.RESOURCE_TYPES, [*resource_types.values(), default_resource], "resource_types")
    attributes = {str(k): tuple(str(x) for x in v) for k, v in (data.get("resource_attributes") or {}).items()}
    _check(standard, std.RESOURCE_ATTRIBUTES, [x for v in attributes.values() for x in v],
           "resource_attributes")
    raw_places = data.get("places") or {}
    places: dict[str, Place] = {}
    for entry in raw_places.get("entries") or []:
        names = [str(n) for n in entry["names"]]
        for name in names:
            places[place_key(name)] = Place.of(entry, name)
    fallback = raw_places["fallback"]
    return Vocabulary(
        category_types=category_types, subcategory_types=subcategory_types, type_to_category=type_to_category,
        statuses=statuses, import_statuses=import_statuses, dispositions=dispositions,
        responder_types=responder_types, agency_types=agency_types, owner_roles=owner_roles,
        responding_roles=responding_roles, owner_agency_type=owner_type, unit_statuses=unit_statuses,
        resource_types=resource_types, default_resource_type=default_resource, resource_attributes=attributes,
        places=places, fallback_place=Place.of(fallback),
        fallback_category=fallback_category,
    )


@lru_cache(maxsize=4)
def load_vocabulary(path: str = "", standards_folder: str = "") -> Vocabulary:
    """The vocabulary of ``path`` (default: the packaged config/eido.yaml), checked against the registries
    when the standard is installed."""
    file = Path(path) if path else CONFIG_FILE
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    return vocabulary_from_dict(data, std.installed_standard(standards_folder))
