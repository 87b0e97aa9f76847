"""Text rules: Vietnamese folding and word tokens (search, triage) and phone masking.

Two forms of a text are used. ``exact`` keeps the diacritics (NFC, lowercase): triage matches
Vietnamese with its diacritics, because "nổ" (explode) is not "nở" (bloom) nor "nợ" (owe).
``normalize`` folds them away (NFD, combining marks stripped, đ → d): search ignores diacritics,
and text typed without diacritics is compared in this form, only against phrases that stay
unambiguous when folded (see incidents/phrases.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_SPACE_RE = re.compile(r"\s+")
_PHONE_STRIP_RE = re.compile(r"[\s.\-()]")
# Vietnamese numbers: 0 + 9-10 digits, or +84 + 9-10 digits (without the leading 0).
_PHONE_RE = re.compile(r"^(?:0\d{9,10}|\+84\d{9,10})$")
# đ/Đ are letters of their own (not d + a combining mark), so NFD leaves them: map them explicitly.
_STROKES = str.maketrans({"đ": "d", "Đ": "D"})


def exact(text: str) -> str:
    """NFC, lowercase, single spaces: "Đường  NGẬP" → "đường ngập" (diacritics kept)."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text or "").lower()).strip()


def fold(text: str) -> str:
    """Strip the diacritics of ``text`` without changing case or spacing: "Đổ" → "Do"."""
    decomposed = unicodedata.normalize("NFD", (text or "").translate(_STROKES))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def has_marks(text: str) -> bool:
    """Whether ``text`` carries any diacritic (or đ): "ngập" yes, "ngap" no."""
    return fold(text) != unicodedata.normalize("NFC", text or "")


def normalize(text: str) -> str:
    """Lowercase without diacritics, single spaces: "Đường NGẬP  sâu" → "duong ngap sau"."""
    # NFKC first: full-width letters and digits, ligatures ("Ｃháy １２") fold to their plain forms.
    return _SPACE_RE.sub(" ", fold(unicodedata.normalize("NFKC", text or "")).lower()).strip()


def search_terms(text: str) -> list[str]:
    """The normalised words of a search query (each must appear somewhere in the incident)."""
    return [w for w in normalize(text).split(" ") if w]


def clean_phone(phone: str) -> str:
    return _PHONE_STRIP_RE.sub("", phone or "")


def is_valid_phone(phone: str) -> bool:
    return bool(_PHONE_RE.match(clean_phone(phone)))


def national_phone(phone: str) -> str:
    """The digits of a Vietnamese number in national form, the one form a caller is looked up by:
    "+84 912 345 678", "84912345678", "0084.912.345.678", "0912 345 678" → "0912345678".

    Spaces, dots, dashes and brackets are dropped; a country code (+84, 0084, 84 before 9-10 more
    digits) becomes the leading 0. Anything else is returned as its digits (empty when none)."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("0084") and len(digits) in (13, 14):
        digits = digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = digits[2:]
    if digits and not digits.startswith("0") and len(digits) in (9, 10):
        digits = "0" + digits
    return digits


def phone_hash(key: bytes, phone: str) -> str:
    """The lookup key of a caller: hex HMAC-SHA256 (``key`` from CITYOPS_INCIDENTS_PHONE_HASH_KEY)
    of the national form. Keyed, so the 10^9 possible numbers cannot be hashed by anyone without the
    key to reverse a stored value; empty for an empty number."""
    national = national_phone(phone)
    return hmac.new(key, national.encode(), hashlib.sha256).hexdigest() if national else ""


def phone_key_id(key: bytes) -> str:
    """A fingerprint of a phone-hash key, stored beside each hash (migration 180): tells which key made
    a row's hash without revealing the key (an HMAC under the key itself of a fixed label)."""
    return hmac.new(key, b"cityops phone-hash key id", hashlib.sha256).hexdigest()[:16]


def mask_phone(phone: str) -> str:
    """The first two and last three digits of the national form behind a fixed mask that hides the
    length too: "+84 912 345 678" → "09xx xxx 678", "02838 123 456" → "02xx xxx 456"; a short
    number → "***", none → ""."""
    digits = national_phone(clean_phone(phone))
    if not digits:
        return ""
    if len(digits) <= 6:
        return "*" * 3
    return f"{digits[:2]}xx xxx {digits[-3:]}"
