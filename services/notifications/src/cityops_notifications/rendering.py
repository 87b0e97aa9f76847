"""Messages from notices: Jinja2 templates per event type and language, Babel for dates and numbers.

Each template ``templates/<lang>/<key>.j2`` defines three blocks: ``subject`` (e-mail subject,
webhook title), ``body`` (e-mail and webhook text) and ``sms`` (one short paragraph, split by
``sms.split_sms``). Vietnamese is the default; times are shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound

from cityops_notifications.notices.models import Notice
from cityops_notifications.sms import split_sms

LOCALES = {"vi": "vi_VN", "en": "en_US"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms_parts: tuple[str, ...]


@cache
def labels() -> dict[str, dict[str, dict[str, str]]]:
    raw = resources.files("cityops_notifications").joinpath("config/labels.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, dict[str, str]]] = json.loads(raw)
    return data


class Renderer:
    """Renders notices; one instance per process (templates are compiled once)."""

    def __init__(self, *, timezone: str = "Asia/Ho_Chi_Minh", sms_max_parts: int = 4) -> None:
        self._tz = ZoneInfo(timezone)
        self._sms_max_parts = sms_max_parts
        self._env = Environment(
            loader=PackageLoader("cityops_notifications", "templates"),
            autoescape=False,  # plain text: e-mail text/plain, SMS and JSON strings
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _filters(self, lang: str) -> dict[str, Any]:
        locale = LOCALES[lang]

        def label(value: Any, kind: str) -> str:
            entry = labels().get(kind, {}).get(str(value))
            return entry.get(lang, entry.get("vi", str(value))) if entry else str(value or "")

        def when(value: str | datetime | None, style: str = "long") -> str:
            if not value:
                return "—"
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            pattern = {"vi": ("HH:mm 'ngày' dd/MM/yyyy", "HH:mm dd/MM"),
                       "en": ("HH:mm, d MMM yyyy", "HH:mm d MMM")}[lang][0 if style == "long" else 1]
            return format_datetime(moment, pattern, tzinfo=self._tz, locale=locale)

        def num(value: float | int, digits: int = 1) -> str:
            return format_decimal(round(float(value), digits), locale=locale)

        def prio(value: int) -> str:
            return f"P{value}" if value else "—"

        return {"label": label, "when": when, "num": num, "prio": prio}

    def render(self, notice: Notice, *, language: str) -> Rendered:
        """The message in ``language``; a notice marked ``bilingual`` (supervisor breach notices)
        carries that language first and the other one second, in every block."""
        lang = language if language in LOCALES else "vi"
        if notice.context.get("bilingual"):
            other = "en" if lang == "vi" else "vi"
            first, second = self._blocks(notice, lang), self._blocks(notice, other)
            sms = f"{first[2]}\n{second[2]}"
            return Rendered(subject=f"{first[0]} / {second[0]}", body=f"{first[1]}\n\n———\n\n{second[1]}",
                            sms_parts=tuple(split_sms(sms, max_parts=self._sms_max_parts)))
        subject, body, sms_text = self._blocks(notice, lang)
        return Rendered(subject=subject, body=body, sms_parts=tuple(split_sms(sms_text, max_parts=self._sms_max_parts)))

    def _blocks(self, notice: Notice, lang: str) -> tuple[str, str, str]:
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
        }
        infos = notice.context.get("infos") or {}
        if infos:
            variables["info"] = infos.get(lang) or next(iter(infos.values()))
        variables.update(self._filters(lang))
        ctx = template.new_context(variables)

        def block(name: str) -> str:
            return "".join(template.blocks[name](ctx)).strip()

        return " ".join(block("subject").split()), block("body"), block("sms")
