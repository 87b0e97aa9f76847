"""Text rules: diacritic-insensitive normalisation (search, keywords) and phone masking."""

from __future__ import annotations

import re

from unidecode import unidecode

_SPACE_RE = re.compile(r"\s+")
_PHONE_STRIP_RE = re.compile(r"[\s.\-()]")
# Vietnamese numbers: 0 + 9-10 digits, or +84 + 9-10 digits (without the leading 0).
_PHONE_RE = re.compile(r"^(?:0\d{9,10}|\+84\d{9,10})$")


def normalize(text: str) -> str:
    """Lowercase ASCII with single spaces: "Đường NGẬP  sâu" → "duong ngap sau".

    unidecode maps đ/Đ to d, which plain NFD stripping would not.
    """
    return _SPACE_RE.sub(" ", unidecode(text or "").lower()).strip()


def search_terms(text: str) -> list[str]:
    """The normalised words of a search query (each must appear somewhere in the incident)."""
    return [w for w in normalize(text).split(" ") if w]


def clean_phone(phone: str) -> str:
    return _PHONE_STRIP_RE.sub("", phone or "")


def is_valid_phone(phone: str) -> bool:
    return bool(_PHONE_RE.match(clean_phone(phone)))


def mask_phone(phone: str) -> str:
    """Keep the first three and last three characters: "0912345678" → "091****678"; "" stays ""."""
    cleaned = clean_phone(phone)
    if not cleaned:
        return ""
    if len(cleaned) <= 6:
        return "*" * len(cleaned)
    return f"{cleaned[:3]}{'*' * 4}{cleaned[-3:]}"
