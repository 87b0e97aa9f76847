"""Messages from notices: Jinja2 templates per event type and language, Babel for dates and numbers.

Each template ``templates/<lang>/<key>.j2`` defines three blocks: ``subject`` (e-mail subject,
webhook title), ``body`` (e-mail and webhook text) and ``sms`` (one short paragraph, split by
``sms.split_sms``). The city's first language is the default; times are shown in the city's time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FunctionLoader, StrictUndefined, TemplateNotFound

from cityops_notifications.notices.models import Notice
from cityops_notifications.sms import GSM7_LIMIT, is_gsm7, split_sms
from cityops_platform.bounded import LruMap
from cityops_platform.city import current_city

# The city's languages, in order (the first is the default); Babel locales by language code.
LANGUAGES = current_city().languages
LOCALES = {lang: lang.replace("-", "_") for lang in LANGUAGES}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms_parts: tuple[str, ...]


_DATE_PATTERNS = {"vi": ("HH:mm 'ngày' dd/MM/yyyy", "HH:mm dd/MM"), "en": ("HH:mm, d MMM yyyy", "HH:mm d MMM"),
                  "nl": ("HH:mm 'op' d MMM yyyy", "HH:mm d MMM")}


def _registry_names(kind: str, code: str) -> dict[str, str] | None:
    """Category and agency names come from the city's registry (city.yaml), by code."""
    city = current_city()
    item = city.category(code) if kind == "category" else city.agency(code) if kind == "agency" else None
    return dict(item.names) if item is not None else None


def _city_template(name: str) -> tuple[str, str, Any] | None:
    """``<lang>/<key>.j2`` from the city folder's notifications/templates (nested or ConfigMap-flat)."""
    path = current_city().file(f"notifications/templates/{name}")
    if not path.is_file():
        return None
    mtime = path.stat().st_mtime
    return path.read_text(encoding="utf-8"), str(path), lambda: path.stat().st_mtime == mtime


@cache
def labels() -> dict[str, dict[str, dict[str, str]]]:
    raw = current_city().file("notifications/labels.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, dict[str, str]]] = json.loads(raw)
    return data


class Renderer:
    """Renders notices; one instance per process (templates are compiled once)."""

    def __init__(self, *, timezone: str | None = None, sms_max_parts: int = 4) -> None:
        self._tz = ZoneInfo(timezone or current_city().timezone)
        self._sms_max_parts = sms_max_parts
        self._env = Environment(
            loader=FunctionLoader(_city_template),
            autoescape=False,  # plain text: e-mail text/plain, SMS and JSON strings
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _filters(self, lang: str) -> dict[str, Any]:
        locale = LOCALES[lang]

        def label(value: Any, kind: str) -> str:
            entry = _registry_names(kind, str(value)) or labels().get(kind, {}).get(str(value))
            return (entry.get(lang) or entry.get(LANGUAGES[0]) or str(value)) if entry else str(value or "")

        def when(value: str | datetime | None, style: str = "long") -> str:
            if not value:
                return "—"
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            patterns = _DATE_PATTERNS.get(lang)
            if patterns is None:  # a language without its own pattern: the locale's own formats
                return format_datetime(moment, "medium" if style == "long" else "short", tzinfo=self._tz,
                                       locale=locale)
            return format_datetime(moment, patterns[0 if style == "long" else 1], tzinfo=self._tz, locale=locale)

        def num(value: float | int, digits: int = 1) -> str:
            return format_decimal(round(float(value), digits), locale=locale)

        def prio(value: int) -> str:
            return f"P{value}" if value else "—"

        return {"label": label, "when": when, "num": num, "prio": prio}

    def render(self, notice: Notice, *, language: str, extra: dict[str, Any] | None = None) -> Rendered:
        """The message in ``language``; a notice marked ``bilingual`` (supervisor breach notices)
        carries that language first and the other one second, in every block. ``extra``: per-delivery
        facts (e.g. ``rating_url``); templates see ``rating_url`` as "" otherwise."""
        lang = language if language in LOCALES else LANGUAGES[0]
        if notice.context.get("bilingual"):
            other = next((x for x in LANGUAGES if x != lang), lang)
            first, second = self._blocks(notice, lang, extra), self._blocks(notice, other, extra)
            sms = f"{first[2]}\n{second[2]}"
            return Rendered(subject=f"{first[0]} / {second[0]}", body=f"{first[1]}\n\n———\n\n{second[1]}",
                            sms_parts=tuple(split_sms(sms, max_parts=self._sms_max_parts)))
        subject, body, sms_text = self._blocks(notice, lang, extra)
        parts = split_sms(sms_text, max_parts=self._sms_max_parts)
        link = str((extra or {}).get("rating_url") or "")
        if link and is_gsm7(link) and len(link) <= GSM7_LIMIT:
            # A link cut across two SMS is useless: it travels alone, as one GSM-7 message.
            parts.append(link)
        return Rendered(subject=subject, body=body, sms_parts=tuple(parts))

    def _blocks(self, notice: Notice, lang: str, extra: dict[str, Any] | None = None) -> tuple[str, str, str]:
        try:
            template = self._env.get_template(f"{lang}/{notice.template}.j2")
        except TemplateNotFound:
            template = self._env.get_template(f"{lang}/generic.j2")
        variables: dict[str, Any] = {
            **notice.context,
            "lang": lang,
            "event_type": notice.event_type,
            "event_id": notice.event_id,
            "occurred_at": notice.context.get("occurred_at") or notice.occurred_at.isoformat(),
            "rating_url": "",
            **(extra or {}),
        }
        infos = notice.context.get("infos") or {}
        if infos:
            variables["info"] = infos.get(lang) or next(iter(infos.values()))
        variables.update(self._filters(lang))
        ctx = template.new_context(variables)

        def block(name: str) -> str:
            return "".join(template.blocks[name](ctx)).strip()

        return " ".join(block("subject").split()), block("body"), block("sms")


class RenderMemo:
    """The stored notices a sender delivers, parsed and rendered once per language: every subscriber of
    one event (a CAP alert to thousands of phones, a P1 to every agency's webhook) gets the same text,
    so its parsing and its Jinja rendering are done once. Keyed by the event id: the notices table holds
    one payload per event id (its primary key), written once. A delivery with per-delivery facts
    (``extra``, e.g. its own rating link) is rendered for itself. At most ``most`` of each (oldest out)."""

    def __init__(self, renderer: Renderer, *, most: int = 512) -> None:
        self._renderer = renderer
        self._notices: LruMap[str, Notice] = LruMap(most)
        self._rendered: LruMap[tuple[str, str], Rendered] = LruMap(most)

    def notice(self, stored: dict[str, Any]) -> Notice:
        event_id = str(stored["event_id"])
        found = self._notices.get(event_id)
        if found is None:
            found = Notice.from_json(stored)
            self._notices.put(event_id, found)
        return found

    def render(self, stored: dict[str, Any], *, language: str, extra: dict[str, Any]) -> Rendered:
        notice = self.notice(stored)
        if extra:
            return self._renderer.render(notice, language=language, extra=extra)
        key = (notice.event_id, language)
        found = self._rendered.get(key)
        if found is None:
            found = self._renderer.render(notice, language=language)
            self._rendered.put(key, found)
        return found
