"""CAP 1.2 XML (OASIS, namespace ``urn:oasis:names:tc:emergency:cap:1.2``), elements in schema order.

Times carry an explicit offset (the city's time zone) and no fractions, as CAP requires;
polygons are closed rings of "lat,lon" pairs; circles are "lat,lon radius_km".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

from cityops_notifications.alerts.models import CapAlert, CapArea, CapInfo
from cityops_platform.city import current_city

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
TZ = ZoneInfo(current_city().timezone)


def cap_time(moment: datetime) -> str:
    """CAP dateTime: 2026-11-26T16:49:00+07:00."""
    return moment.astimezone(TZ).replace(microsecond=0).isoformat()


def reference(sender: str, identifier: str, sent: datetime) -> str:
    """One CAP reference: "sender,identifier,sent"."""
    return f"{sender},{identifier},{cap_time(sent)}"


def _el(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        child.text = text
    return child


def _coord(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _area(info_el: ET.Element, area: CapArea) -> None:
    area_el = _el(info_el, "area")
    _el(area_el, "areaDesc", area.area_desc)
    if area.polygon:
        ring = list(area.polygon) if area.polygon[0] == area.polygon[-1] else [*area.polygon, area.polygon[0]]
        _el(area_el, "polygon", " ".join(f"{_coord(p.lat)},{_coord(p.lon)}" for p in ring))
    if area.circle is not None:
        c = area.circle
        _el(area_el, "circle", f"{_coord(c.center.lat)},{_coord(c.center.lon)} {_coord(c.radius_m / 1000)}")


def _info(alert_el: ET.Element, info: CapInfo) -> None:
    el = _el(alert_el, "info")
    _el(el, "language", info.language)
    for category in info.categories:
        _el(el, "category", category)
    _el(el, "event", info.event)
    for response in info.response_types:
        _el(el, "responseType", response)
    _el(el, "urgency", info.urgency)
    _el(el, "severity", info.severity)
    _el(el, "certainty", info.certainty)
    for tag, moment in (("effective", info.effective), ("onset", info.onset), ("expires", info.expires)):
        if moment is not None:
            _el(el, tag, cap_time(moment))
    for tag, text in (("senderName", info.sender_name), ("headline", info.headline),
                      ("description", info.description), ("instruction", info.instruction),
                      ("web", info.web), ("contact", info.contact)):
        if text:
            _el(el, tag, text)
    if info.area is not None:
        _area(el, info.area)


def to_xml(alert: CapAlert, *, sent: datetime) -> str:
    """The CAP document of ``alert`` as sent at ``sent``."""
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _el(root, "identifier", alert.identifier)
    _el(root, "sender", alert.sender)
    _el(root, "sent", cap_time(sent))
    _el(root, "status", alert.status)
    _el(root, "msgType", alert.msg_type)
    _el(root, "scope", alert.scope)
    if alert.scope == "Restricted":
        _el(root, "restriction", alert.restriction)
    if alert.scope == "Private":
        _el(root, "addresses", alert.addresses)
    if alert.note:
        _el(root, "note", alert.note)
    if alert.references:
        _el(root, "references", " ".join(alert.references))
    if alert.incident_id:
        _el(root, "incidents", alert.incident_id)
    for info in alert.infos:
        _info(root, info)
    # default_namespace, not ET.register_namespace: that map is global to the process, and any other
    # module registering a prefix for CAP (the gateway's feed, in-process in tests) would change ours.
    body = ET.tostring(root, encoding="unicode", default_namespace=CAP_NS)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body
