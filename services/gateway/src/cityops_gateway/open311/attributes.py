"""Service definitions: the extra questions (attributes) a service asks, and their validation.

Attributes are data (``attributes:`` of a service in open311_services.yaml). A POST answers them
as ``attribute[code]=value`` (``attribute[code][]=v`` repeated for a multivaluelist); every rule
of the spec is checked (required, datatype, value lists) and every bad answer is reported, each
as one Open311 error naming ``attribute[code]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DATATYPES = frozenset({"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"})
LISTS = frozenset({"singlevaluelist", "multivaluelist"})
MAX_STRING = 200
MAX_TEXT = 1000


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list attribute: the key a citizen sends and its names in both languages."""

    key: str
    name_vi: str
    name_en: str


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    required: bool
    order: int
    description_vi: str
    description_en: str
    variable: bool = True
    datatype_description_vi: str = ""
    datatype_description_en: str = ""
    values: tuple[AttributeValue, ...] = ()
    label_vi: str = ""  # short name for the incident's description; the description when empty

    @classmethod
    def from_yaml(cls, raw: Mapping[str, Any], service_code: str) -> Attribute:
        datatype = str(raw.get("datatype", "string"))
        if datatype not in DATATYPES:
            raise ValueError(f"{service_code}: attribute {raw.get('code')}: unknown datatype {datatype}")
        values = tuple(
            AttributeValue(str(v["key"]), v["name"]["vi"], v["name"]["en"]) for v in raw.get("values", []) or []
        )
        if (datatype in LISTS) != bool(values):
            raise ValueError(f"{service_code}: attribute {raw.get('code')}: values go with (and only with) lists")
        dd = raw.get("datatype_description") or {}
        return cls(
            code=str(raw["code"]), datatype=datatype, required=bool(raw.get("required", False)),
            order=int(raw["order"]), description_vi=raw["description"]["vi"], description_en=raw["description"]["en"],
            variable=bool(raw.get("variable", True)), datatype_description_vi=dd.get("vi", ""),
            datatype_description_en=dd.get("en", ""), values=values, label_vi=str(raw.get("label", "")),
        )

    def to_json(self, lang: str) -> dict[str, Any]:
        """One ``attribute`` of a GeoReport service definition, in the spec's field order."""
        en = lang == "en"
        body: dict[str, Any] = {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": (self.datatype_description_en if en else self.datatype_description_vi) or None,
            "order": self.order,
            "description": self.description_en if en else self.description_vi,
        }
        if self.values:
            body["values"] = [{"key": v.key, "name": v.name_en if en else v.name_vi} for v in self.values]
        return body

    def label(self, key: str) -> str:
        """The Vietnamese name of a list value (what an operator reads)."""
        return next((v.name_vi for v in self.values if v.key == key), key)


@dataclass(frozen=True)
class AnswerError:
    """One bad answer: ``code`` is the attribute's code."""

    code: str
    description: str

    @property
    def field(self) -> str:
        return f"attribute[{self.code}]"


def _one(values: list[str]) -> str:
    return values[0].strip() if values else ""


def _check(attr: Attribute, raw: list[str], timezone: str) -> tuple[str, str | None]:
    """(cleaned answer, error or None); the answer is what the incident's description shows."""
    if attr.datatype == "multivaluelist":
        keys = [v.strip() for v in raw if v.strip()]
        allowed = {v.key for v in attr.values}
        bad = [k for k in keys if k not in allowed]
        if bad:
            return "", f"giá trị không có trong danh sách (not in the value list): {', '.join(bad)}"
        if len(set(keys)) != len(keys):
            return "", "giá trị bị lặp (repeated value)"
        return ", ".join(attr.label(k) for k in keys), None
    if len(raw) > 1:
        return "", "chỉ được một giá trị (exactly one value)"
    value = _one(raw)
    if attr.datatype == "singlevaluelist":
        if value not in {v.key for v in attr.values}:
            return "", f"giá trị không có trong danh sách (not in the value list): {value}"
        return attr.label(value), None
    if attr.datatype == "number":
        try:
            number = float(value)
        except ValueError:
            return "", "phải là số (must be a number)"
        if not math.isfinite(number):
            return "", "phải là số hữu hạn (must be finite)"
        return f"{number:g}", None
    if attr.datatype == "datetime":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "", "phải theo ISO 8601 (must be ISO 8601), ví dụ 2026-01-31T08:00:00+07:00"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        return moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M %d/%m/%Y"), None
    if attr.datatype == "string":
        if "\n" in value or "\r" in value:
            return "", "không được xuống dòng (no line breaks)"
        if len(value) > MAX_STRING:
            return "", f"tối đa {MAX_STRING} ký tự (at most {MAX_STRING} characters)"
        return value, None
    if len(value) > MAX_TEXT:  # text
        return "", f"tối đa {MAX_TEXT} ký tự (at most {MAX_TEXT} characters)"
    return value, None


def validate_answers(
    attributes: tuple[Attribute, ...], answers: Mapping[str, list[str]], *, timezone: str
) -> tuple[list[tuple[Attribute, str]], list[AnswerError]]:
    """Check every answer against the service definition.

    Returns the accepted answers (attribute, answer text) in the definition's order and every
    error found: missing required ones, unknown codes, wrong datatypes, values not in the list.
    """
    by_code = {a.code: a for a in attributes if a.variable}
    errors = [AnswerError(code, "không thuộc định nghĩa dịch vụ (not in the service definition)")
              for code in answers if code not in by_code]
    accepted: list[tuple[Attribute, str]] = []
    for attr in sorted(by_code.values(), key=lambda a: a.order):
        raw = [v for v in answers.get(attr.code, []) if v.strip()]
        if not raw:
            if attr.required:
                errors.append(AnswerError(attr.code, "bắt buộc (required)"))
            continue
        answer, error = _check(attr, raw, timezone)
        if error:
            errors.append(AnswerError(attr.code, error))
        else:
            accepted.append((attr, answer))
    return accepted, errors


def answers_from_fields(items: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """``attribute[code]`` / ``attribute[code][]`` form pairs (or a JSON ``attribute`` object) → code → values."""
    out: dict[str, list[str]] = {}
    for key, value in items:
        if key == "attribute" and isinstance(value, Mapping):
            for code, inner in value.items():
                values = inner if isinstance(inner, list) else [inner]
                out.setdefault(str(code), []).extend(str(v) for v in values if v is not None)
            continue
        if not key.startswith("attribute[") or "]" not in key:
            continue
        code = key[len("attribute["):key.index("]")]
        values = value if isinstance(value, list) else [value]
        out.setdefault(code, []).extend(str(v) for v in values if v is not None)
    return out


def describe(accepted: list[tuple[Attribute, str]]) -> str:
    """The answers as lines for the incident's description ("Độ sâu nước (cm): 40")."""
    return "\n".join(f"{attr.label_vi or attr.description_vi.rstrip(' ?:')}: {answer}" for attr, answer in accepted)
