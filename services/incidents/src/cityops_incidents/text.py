"""Text rules: diacritic-insensitive normalisation (search, keywords) and phone masking."""

from __future__ import annotations

import re
import unicodedata

# đ/Đ is a letter of its own, not d plus a mark, so decomposition alone would keep it.
_STROKED_D = str.maketrans({"đ": "d", "Đ": "D"})
_SPACE_RE = re.compile(r"\s+")
_PHONE_STRIP_RE = re.compile(r"[\s.\-()]")
# Vietnamese numbers: 0 + 9-10 digits, or +84 + 9-10 digits (without the leading 0).
_PHONE_RE = re.compile(r"^(?:0\d{9,10}|\+84\d{9,10})$")


def fold_diacritics(text: str) -> str:
    """Vietnamese letters without their marks: "Đường ngập" → "Duong ngap".

    NFKD splits every accented letter into its base and combining marks (and compatibility forms such
    as full-width digits or ligatures into plain ones), the marks are dropped, and đ/Đ becomes d/D.
    On every Vietnamese letter this gives what unidecode gave before it (tests/unit/incidents).
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_STROKED_D))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lowercase, without diacritics, single spaces: "Đường NGẬP  sâu" → "duong ngap sau"."""
    return _SPACE_RE.sub(" ", fold_diacritics(text or "").lower()).strip()


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
