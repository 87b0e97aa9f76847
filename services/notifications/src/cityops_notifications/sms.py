"""SMS length rules: GSM-7 (160 characters) or UCS-2 (70 UTF-16 units), and explicit splitting.

Vietnamese with diacritics is not GSM-7, so it travels as UCS-2: 70 units per SMS. Each part is
sent as its own SMS through the gateway (no concatenation headers), so every part must fit one
single-segment SMS and carries a "(i/n) " prefix so the reader can put them in order.
"""

from __future__ import annotations

import re

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_LIMIT = 160
UCS2_LIMIT = 70
ELLIPSIS = "…"


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def units(text: str, *, gsm7: bool) -> int:
    """Length in the encoding's units: GSM-7 septets (extension characters take two) or UTF-16 units."""
    if gsm7:
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def _split_words(text: str, room: int, gsm7: bool) -> list[str]:
    parts: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if units(candidate, gsm7=gsm7) <= room:
            current = candidate
            continue
        if current:
            parts.append(current)
        while units(word, gsm7=gsm7) > room:  # a word longer than a whole part is cut hard
            cut = room
            while units(word[:cut], gsm7=gsm7) > room:
                cut -= 1
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        parts.append(current)
    return parts


def split_sms(text: str, *, max_parts: int = 4) -> list[str]:
    """The texts to send, each fitting one SMS. Over ``max_parts`` the text is cut and ends with '…'."""
    text = re.sub(r"\s+", " ", text).strip()
    gsm7 = is_gsm7(text)
    limit = GSM7_LIMIT if gsm7 else UCS2_LIMIT
    if units(text, gsm7=gsm7) <= limit:
        return [text]
    n = 2
    while True:
        prefix_len = len(f"({n}/{n}) ")
        chunks = _split_words(text, limit - prefix_len, gsm7)
        if len(chunks) <= n:
            return [f"({i}/{len(chunks)}) {c}" for i, c in enumerate(chunks, 1)]
        if n >= max_parts:
            break
        n += 1
    # Too long: keep what fits in max_parts and say that it was cut.
    ellipsis = "..." if gsm7 else ELLIPSIS
    room = limit - len(f"({max_parts}/{max_parts}) ")
    chunks = _split_words(text, room, gsm7)[:max_parts]
    last = chunks[-1]
    while last and units(last + ellipsis, gsm7=gsm7) > room:
        last = last[:-1]
    chunks[-1] = last.rstrip() + ellipsis
    return [f"({i}/{len(chunks)}) {c}" for i, c in enumerate(chunks, 1)]
