"""Codes on the API: a city's categories and agencies, checked against its registry.

A request may carry a code (``category_code: "BRAND"``) or, from an older client, a protobuf enum
value (``category: CATEGORY_FIRE``). ``resolve`` turns either into the city's code: a code wins, an
enum value maps through the registry's ``enum`` names, and anything else is a field violation that
lists the known codes, so the caller sees what the city accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cityops_platform.city.models import City
from cityops_platform.errors import FieldViolation


class UnknownCode(ValueError):
    """A code the city's registry does not hold."""

    def __init__(self, violation: FieldViolation) -> None:
        super().__init__(violation.description)
        self.violation = violation


@dataclass(frozen=True)
class CodeRegistry:
    """One kind of code (categories or agencies) of one city, with the enum bridge of old clients.

    ``enum_names`` maps a protobuf enum number to its name without prefix (``7`` → ``"FLOOD"``).
    """

    kind: str  # "category" / "agency", for messages
    codes: tuple[str, ...]
    by_enum: dict[str, str]  # enum name without prefix → code
    to_enum: dict[str, str]  # code → enum name without prefix

    @classmethod
    def categories(cls, city: City) -> CodeRegistry:
        pairs = {c.enum: c.code for c in city.categories if c.enum}
        return cls("category", city.category_codes, pairs, {v: k for k, v in pairs.items()})

    @classmethod
    def agencies(cls, city: City) -> CodeRegistry:
        pairs = {a.enum: a.code for a in city.agencies if a.enum}
        return cls("agency", city.agency_codes, pairs, {v: k for k, v in pairs.items()})

    def known(self) -> str:
        return ", ".join(self.codes)

    def violation(self, field: str, value: str) -> FieldViolation:
        return FieldViolation(field, f"unknown {self.kind} {value!r}; known codes: {self.known()}")

    def check(self, code: str, field: str) -> str:
        """``code`` when the registry holds it; raises ``UnknownCode`` otherwise."""
        if code not in self.codes:
            raise UnknownCode(self.violation(field, code))
        return code

    def from_enum(self, enum_name: str, field: str) -> str:
        """The code an old client means by an enum name (no prefix); raises ``UnknownCode``."""
        code = self.by_enum.get(enum_name)
        if code is None:
            raise UnknownCode(self.violation(field, enum_name))
        return code

    def resolve(self, *, code: str, enum_name: str | None, code_field: str, enum_field: str) -> str | None:
        """The code a request means: ``code`` (checked) if set, else the enum's code, else None."""
        if code:
            return self.check(code, code_field)
        if enum_name:
            return self.from_enum(enum_name, enum_field)
        return None

    def resolve_many(self, *, codes: Sequence[str], enum_names: Iterable[str], code_field: str,
                     enum_field: str, out: list[FieldViolation]) -> list[str]:
        """Every code a filter means (codes and old enum values together), violations into ``out``."""
        result: list[str] = []
        for i, code in enumerate(codes):
            try:
                result.append(self.check(code, f"{code_field}[{i}]"))
            except UnknownCode as exc:
                out.append(exc.violation)
        for i, name in enumerate(enum_names):
            try:
                result.append(self.from_enum(name, f"{enum_field}[{i}]"))
            except UnknownCode as exc:
                out.append(exc.violation)
        return list(dict.fromkeys(result))

    def enum_of(self, code: str) -> str | None:
        """The enum name (no prefix) an old client reads for ``code``; None when there is none."""
        return self.to_enum.get(code)
