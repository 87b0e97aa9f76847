"""Geocoding of Open311 locations against the city's own address data (config/gazetteer.yaml).

``address_string`` is read from most specific to most general, as the spec asks citizens to
write it: a known street within a known ward gives the street's point, a ward or commune alone
gives its centre. The ward is found by the city's administrative units
(cityops_platform.geo.admin_units), which also convert an address written the pre-2025 way
("phường <cũ>, <thị xã cũ>, <tỉnh cũ>"; docs/admin-units.md has examples) to the ward it is in today; a gazetteer unit
names its registry ``code`` and takes its name, kind and point from there. Names are matched
with their diacritics first; only when that finds nothing is a diacritic-free spelling tried,
and then only names that stay unambiguous without diacritics count ("Phu Loi" finds Phú Lợi,
but a bare spelling shared by two places finds neither). ``address_id`` is the id of an entry.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityops_platform.geo.admin_units import AdminUnits, admin_units

STREET = "street"
UNIT = "unit"
# Administrative words that only say what kind of place follows.
_PREFIXES = re.compile(
    r"(?<!\w)(phường|xã|thị trấn|p\.|x\.|tp\.?|thành phố|thị xã|quận|huyện|tỉnh)(?!\w)", re.IGNORECASE
)
def _region_pattern(names: list[str]) -> re.Pattern[str] | None:
    """The names that only say which city or country an address is in (gazetteer ``region_names``)."""
    alternatives = "|".join(re.escape(normalize(n)) for n in sorted(names, key=len, reverse=True) if n.strip())
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)") if alternatives else None


@dataclass(frozen=True)
class Place:
    """A geocoded location: a gazetteer entry (``precision`` street or unit) or the fallback."""

    id: str
    name: str
    lat: float
    lon: float
    precision: str  # "street", "unit"
    unit_name: str = ""
    ward_code: str = ""  # the registry code of the unit (of the street's unit)

    @property
    def label(self) -> str:
        return f"{self.name}, {self.unit_name}" if self.unit_name and self.unit_name not in self.name else self.name


def normalize(text: str) -> str:
    """NFC, lower case, punctuation to spaces (keeps letters with their diacritics)."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"[^\w.]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def unaccent(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _street_keys(name: str) -> list[str]:
    full = normalize(name)
    keys = [full]
    for kind in ("đường ",):
        if full.startswith(kind) and len(full) - len(kind) >= 5:
            keys.append(full[len(kind):])
    if full.startswith("quốc lộ "):
        keys.append("ql" + full[len("quốc lộ "):].replace(" ", ""))
    return keys


def _find(text: str, key: str) -> int:
    match = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text)
    return match.start() if match else -1


class Gazetteer:
    """The city's wards/communes and streets, searchable by name and by id."""

    def __init__(self, raw: dict[str, Any], admin: AdminUnits | None = None) -> None:
        fb = raw["fallback"]
        self.fallback = Place("", str(fb["name"]), float(fb["lat"]), float(fb["lon"]), "fallback")
        if admin is None and any(u.get("code") for u in raw.get("units", [])):
            admin = admin_units()  # entries by code: the active city's registry
        self.admin = admin
        self.units: dict[str, Place] = {}
        self._unit_of_code: dict[str, str] = {}
        unit_keys: list[tuple[str, str]] = []
        for u in raw.get("units", []):
            registered = admin.get(str(u["code"])) if admin is not None and u.get("code") else None
            if registered is not None:  # name, kind and point from the registry; the entry may override the point
                u = {"name": registered.short_name, "kind": registered.kind, "lat": registered.lat,
                     "lon": registered.lon, **u}
                self._unit_of_code[registered.code] = str(u["id"])
            place = Place(str(u["id"]), f"{u['kind']} {u['name']}", float(u["lat"]), float(u["lon"]), UNIT,
                          ward_code=registered.code if registered is not None else "")
            self.units[place.id] = place
            for name in [u["name"], *(u.get("aliases") or [])]:
                unit_keys.append((normalize(str(name)), place.id))
        self.streets: dict[str, Place] = {}
        street_keys: list[tuple[str, str]] = []
        for s in raw.get("streets", []):
            unit = self.units[str(s["unit"])]
            place = Place(str(s["id"]), str(s["name"]), float(s["lat"]), float(s["lon"]), STREET, unit.name,
                          unit.ward_code)
            self.streets[place.id] = place
            street_keys += [(k, place.id) for k in _street_keys(place.name)]
        self._street_unit = {str(s["id"]): str(s["unit"]) for s in raw.get("streets", [])}
        # Longest names first, so "tân đông hiệp" wins over a shorter name inside it.
        self._units = sorted(unit_keys, key=lambda kv: -len(kv[0]))
        self._streets = sorted(street_keys, key=lambda kv: -len(kv[0]))
        self._units_plain = _unambiguous(self._units)
        self._streets_plain = _unambiguous(self._streets)
        self._region = _region_pattern([str(n) for n in raw.get("region_names") or []])

    @classmethod
    def load(cls, path: Path, admin: AdminUnits | None = None) -> Gazetteer:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, admin)

    def by_id(self, address_id: str) -> Place | None:
        """The entry with this ``address_id``."""
        return self.streets.get(address_id) or self.units.get(address_id)

    def geocode(self, address: str) -> Place | None:
        """The best place named in a free-text address, or None when it names none we know."""
        hint = self._registry_unit(address)
        text = normalize(address)
        if self._region is not None:
            text = self._region.sub(" ", text)
        found = self._match(text, self._streets, self._units, hint)
        if found is None or found.precision != STREET:  # a street spelled without diacritics is more precise
            plain = self._match(unaccent(text), self._streets_plain, self._units_plain, hint)
            if plain is not None and (found is None or plain.precision == STREET):
                found = plain
        return found

    def _registry_unit(self, address: str) -> str:
        """The gazetteer unit the administrative registry finds in the address ("" if none)."""
        if self.admin is None:
            return ""
        found = self.admin.resolve(address)
        return self._unit_of_code.get(found.code, "") if found is not None else ""

    def _match(self, text: str, streets: list[tuple[str, str]], units: list[tuple[str, str]],
               hint: str = "") -> Place | None:
        street_ids: list[str] = []
        matched: str | None = None
        for key, sid in streets:  # one street name may have an entry in several wards
            if matched is not None and key != matched:
                if len(key) < len(matched):
                    break
                continue
            if key == matched:
                street_ids.append(sid)
                continue
            pos = _find(text, key)
            if pos >= 0:
                matched = key
                street_ids.append(sid)
        if matched is not None:
            pos = _find(text, matched)
            text = text[:pos] + " | " + text[pos + len(matched):]  # a street name is not also a ward name
        rest = _PREFIXES.sub(" ", text)
        mentioned: list[tuple[int, str]] = []
        for key, uid in units:
            pos = _find(rest, key)
            if pos >= 0:
                mentioned.append((pos, uid))
                rest = rest[:pos] + " " * len(key) + rest[pos + len(key):]
        unit_ids = [uid for _, uid in sorted(mentioned)]  # the most specific (first written) first
        if hint:  # the registry read the address (old or new form): its unit comes first
            unit_ids = [hint, *(u for u in unit_ids if u != hint)]
        candidates = list(dict.fromkeys(street_ids))
        if candidates:
            in_unit = [s for s in candidates if self._street_unit[s] in unit_ids]
            if in_unit:
                return self.streets[in_unit[0]]
            if len(candidates) == 1 and not unit_ids:
                return self.streets[candidates[0]]
        return self.units[unit_ids[0]] if unit_ids else None


def _unambiguous(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The diacritic-free keys of names that stay distinct without diacritics."""
    spellings: dict[str, set[str]] = {}
    for key, _ in keys:
        spellings.setdefault(unaccent(key), set()).add(key)
    return [(unaccent(k), ident) for k, ident in keys if len(spellings[unaccent(k)]) == 1]
