"""The city's manifest (``cities/<name>/city.yaml``) as validated types.

Everything a city team changes without touching code: its languages, time zone, service area,
agencies, categories and subcategories (codes with a name per language), branding, CAP sender and
identifier prefix, holiday calendar and map layers. Codes are the API's words: the registry is the
one list an incoming category or agency code is checked against.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,47}$")
SUBCODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")

Names = dict[str, str]  # language code → text
FLAT_SEPARATOR = "__"  # "/" in the keys of a ConfigMap holding a city folder


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Subcategory(_Frozen):
    """A refinement of a category (e.g. ``ngap_duong``): a code and its names."""

    code: str
    names: Names = Field(default_factory=dict)


class Category(_Frozen):
    """A category of the registry. ``enum`` names the protobuf ``Category`` value (without its
    prefix) that old clients send for it; a category with no such value is reachable only by code."""

    code: str
    names: Names
    agency: str
    enum: str | None = None
    subcategories: tuple[Subcategory, ...] = ()
    public: bool = True  # Open311 GET may publish citizens' requests of it (False: medical, police, fire)
    open_data: bool = True  # listed on the public NGSI-LD view (False: e.g. administrative cases)
    ngsi_alert: str = ""  # NGSI-LD Alert.category (smart data models), "" = none


class Agency(_Frozen):
    """A responding agency (police, fire, a municipality…). ``enum`` as for categories."""

    code: str
    names: Names
    enum: str | None = None
    phone: str = ""


class ServiceArea(_Frozen):
    """The outline the city serves: (lat, lon) pairs; the ring is closed automatically."""

    names: Names
    polygon: tuple[tuple[float, float], ...]

    @field_validator("polygon")
    @classmethod
    def _ring(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(set(value)) < 3:
            raise ValueError("service_area.polygon needs at least 3 distinct points")
        for lat, lon in value:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"service_area.polygon: ({lat}, {lon}) is not a WGS84 position")
        return value


class MapLayer(_Frozen):
    """A GeoJSON file of the city folder shown on the console's map."""

    id: str
    file: str
    names: Names = Field(default_factory=dict)


class Branding(_Frozen):
    """What the console shows: its title per language, and where the map opens."""

    title: Names
    centre: tuple[float, float]
    zoom: int = Field(ge=1, le=20)


class CapSender(_Frozen):
    """The CAP 1.2 ``<sender>``, its display name per language and the ``<identifier>`` prefix."""

    sender: str
    names: Names
    identifier_prefix: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,31}$")


class City(_Frozen):
    """One city: the manifest plus the folder it was read from (``path``)."""

    name: str
    path: Path
    languages: tuple[str, ...]
    timezone: str
    holidays: str | None = None
    country: str = ""
    domain: str = ""  # the city's internet domain, e.g. for EIDO agency identifiers
    service_area: ServiceArea
    agencies: tuple[Agency, ...]
    categories: tuple[Category, ...]
    branding: Branding
    cap: CapSender
    map_layers: tuple[MapLayer, ...] = ()

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("languages: at least one (the first is the default)")
        bad = [lang for lang in value if not LANG_RE.match(lang)]
        if bad or len(set(value)) != len(value):
            raise ValueError(f"languages: {list(value)} must be distinct language codes such as 'vi', 'nl'")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {value!r} is not an IANA zone") from exc
        return value

    @model_validator(mode="after")
    def _registry(self) -> City:
        agencies = [a.code for a in self.agencies]
        categories = [c.code for c in self.categories]
        for kind, codes in (("agency", agencies), ("category", categories)):
            bad = [c for c in codes if not CODE_RE.match(c)]
            if bad:
                raise ValueError(f"{kind} codes {bad} must be UPPER_SNAKE_CASE")
            if len(set(codes)) != len(codes):
                raise ValueError(f"{kind} codes must be unique: {codes}")
        for c in self.categories:
            if c.agency not in agencies:
                raise ValueError(f"category {c.code}: agency {c.agency!r} is not one of {agencies}")
            bad = [s.code for s in c.subcategories if not SUBCODE_RE.match(s.code)]
            if bad:
                raise ValueError(f"category {c.code}: subcategory codes {bad} must be lower_snake_case")
        subs = [s.code for c in self.categories for s in c.subcategories]
        if len(set(subs)) != len(subs):
            raise ValueError("subcategory codes must be unique across categories")
        default = self.languages[0]
        named = [("service_area", self.service_area.names), ("branding.title", self.branding.title),
                 ("cap.names", self.cap.names),
                 *((f"agency {a.code}", a.names) for a in self.agencies),
                 *((f"category {c.code}", c.names) for c in self.categories)]
        missing = [where for where, names in named if default not in names]
        if missing:
            raise ValueError(f"the default language {default!r} needs a name in: {missing}")
        for field, items in (("agencies", self.agencies), ("categories", self.categories)):
            enums = [i.enum for i in items if i.enum]
            if len(set(enums)) != len(enums):
                raise ValueError(f"{field}: one protobuf enum value may stand for one code only: {enums}")
        return self

    # -- lookups ------------------------------------------------------------------------------
    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def category_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    @property
    def agency_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.agencies)

    def file(self, relative: str) -> Path:
        """A file of the city folder (``incidents/rules.yaml``); it need not exist. A folder mounted
        from a Kubernetes ConfigMap is flat: there ``incidents__rules.yaml`` stands for it."""
        nested = self.path / relative
        flat = self.path / relative.replace("/", FLAT_SEPARATOR)
        return flat if not nested.exists() and flat.exists() else nested

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def agency(self, code: str) -> Agency | None:
        return next((a for a in self.agencies if a.code == code), None)

    def category_for_enum(self, enum_name: str) -> str | None:
        """The category code an old client means by the protobuf value ``enum_name`` (no prefix)."""
        return next((c.code for c in self.categories if c.enum == enum_name), None)

    def agency_for_enum(self, enum_name: str) -> str | None:
        return next((a.code for a in self.agencies if a.enum == enum_name), None)

    def text(self, names: Names, language: str | None = None) -> str:
        """``names`` in ``language``, else the default language, else any."""
        for lang in (language, self.default_language):
            if lang and names.get(lang):
                return names[lang]
        return next(iter(names.values()), "")
