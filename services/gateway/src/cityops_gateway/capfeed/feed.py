"""The public CAP feed as data: which alerts are public, their Atom entries, and HTTP validators.

Everything is read from each alert's own published CAP XML (what notifications signed off on),
so the feed can never say something the alert does not. Only alerts that were approved and
published carry XML; a draft has none and so can never appear.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from cityops_platform.city import current_city

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
_C = f"{{{CAP_NS}}}"
_A = f"{{{ATOM_NS}}}"
# Process-global prefixes: the CAP writer (notifications) passes its own default namespace to
# tostring, so these cannot change how an alert is serialised in the same process.
ET.register_namespace("", ATOM_NS)
ET.register_namespace("cap", CAP_NS)
# Copied from the alert (and its first info) into each entry, in the cap: namespace.
ALERT_FIELDS = ("identifier", "sender", "sent", "status", "msgType", "scope")
INFO_FIELDS = ("event", "urgency", "severity", "certainty", "effective", "onset", "expires")


@dataclass(frozen=True)
class PublicAlert:
    """One published, public CAP message."""

    alert_id: str  # internal id (the entry's urn:uuid)
    identifier: str
    xml: str
    sent: datetime
    updated: datetime  # changes when a later message supersedes or cancels it
    current: bool  # PUBLISHED (not yet superseded or cancelled): listed in the feed

    @property
    def etag(self) -> str:
        return etag_of(self.xml.encode("utf-8"))


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def public(xml: str, statuses: frozenset[str]) -> bool:
    """A message everyone may read: scope Public and a status the city publishes."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return False
    return root.findtext(f"{_C}scope") == "Public" and root.findtext(f"{_C}status") in statuses


def _info(root: ET.Element) -> ET.Element | None:
    infos = root.findall(f"{_C}info")
    default = current_city().default_language  # the feed entry speaks the city's default language
    own = [i for i in infos if (i.findtext(f"{_C}language") or "").lower().split("-", 1)[0] == default]
    chosen = own or infos
    return chosen[0] if chosen else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(alerts: Iterable[PublicAlert], *, feed_url: str, alert_url: str, title: str,
              empty_updated: datetime) -> bytes:
    """An Atom 1.0 feed of the current alerts, newest ``sent`` first; each entry links its CAP
    XML (``alert_url`` is formatted with ``identifier``) as ``alternate`` of type application/cap+xml."""
    entries = sorted((a for a in alerts if a.current), key=lambda a: (a.sent, a.identifier), reverse=True)
    feed = ET.Element(f"{_A}feed")
    ET.SubElement(feed, f"{_A}id").text = feed_url
    ET.SubElement(feed, f"{_A}title").text = title
    updated = max((a.updated for a in entries), default=empty_updated)
    ET.SubElement(feed, f"{_A}updated").text = _rfc3339(updated)
    ET.SubElement(feed, f"{_A}link", rel="self", type="application/atom+xml", href=feed_url)
    for alert in entries:
        root = ET.fromstring(alert.xml)
        info = _info(root)
        entry = ET.SubElement(feed, f"{_A}entry")
        ET.SubElement(entry, f"{_A}id").text = f"urn:uuid:{alert.alert_id}"
        headline = (info.findtext(f"{_C}headline") or info.findtext(f"{_C}event")) if info is not None else None
        ET.SubElement(entry, f"{_A}title").text = headline or alert.identifier
        ET.SubElement(entry, f"{_A}updated").text = _rfc3339(alert.updated)
        ET.SubElement(entry, f"{_A}published").text = _rfc3339(alert.sent)
        author = ET.SubElement(entry, f"{_A}author")
        sender_name = info.findtext(f"{_C}senderName") if info is not None else None
        ET.SubElement(author, f"{_A}name").text = sender_name or root.findtext(f"{_C}sender") or ""
        if info is not None and info.findtext(f"{_C}description"):
            ET.SubElement(entry, f"{_A}summary").text = info.findtext(f"{_C}description")
        ET.SubElement(entry, f"{_A}link", rel="alternate", type=CAP_TYPE,
                      href=alert_url.format(identifier=alert.identifier))
        for name in ALERT_FIELDS:
            if (value := root.findtext(f"{_C}{name}")) is not None:
                ET.SubElement(entry, f"{_C}{name}").text = value
        if info is not None:
            for name in INFO_FIELDS:
                if (value := info.findtext(f"{_C}{name}")) is not None:
                    ET.SubElement(entry, f"{_C}{name}").text = value
            areas = [a.findtext(f"{_C}areaDesc") or "" for a in info.findall(f"{_C}area")]
            if any(areas):
                ET.SubElement(entry, f"{_C}areaDesc").text = "; ".join(a for a in areas if a)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def not_modified(headers: dict[str, str], *, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 conditional GET: If-None-Match decides when present, else If-Modified-Since."""
    inm = headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = headers.get("if-modified-since")
    if ims and last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified.replace(microsecond=0) <= since
    return False
