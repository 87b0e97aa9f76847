"""GeoReport v2 in both of its formats: JSON, and XML (the spec's required format).

The JSON body is the source of truth; the XML is derived from it by the spec's own mapping (the
"Spark convention" read backwards): a list becomes a container element of repeated children
(``services``/``service``), a dict becomes child elements in key order, ``None`` an empty
element, booleans ``true``/``false``. ElementTree does the escaping; characters XML 1.0 cannot
carry (C0 controls but tab, CR and LF) are removed first, so the output always parses.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
FORMATS = ("json", "xml")
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Not allowed in XML 1.0 documents (and never meaningful in a service request).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Container element -> its repeated child, for every list the spec defines.
ITEM_NAMES: dict[str, str] = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def xml_text(value: Any) -> str:
    """The text of one XML leaf: booleans in lower case, None empty, control characters dropped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = xml_text(value)


def to_xml(root: str, body: Any) -> str:
    """The XML document of a GeoReport body: ``root`` is the top element (``services``, ...)."""
    element = ET.Element(root)
    _fill(element, body)
    return XML_DECLARATION + ET.tostring(element, encoding="unicode")


def render(fmt: str, root: str, body: Any, *, status_code: int = 200) -> Response:
    """The response in ``fmt`` ("json" or "xml"), with the spec's content types (UTF-8)."""
    if fmt == "xml":
        return Response(to_xml(root, body).encode("utf-8"), status_code=status_code, media_type=XML_TYPE)
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(payload, status_code=status_code, media_type=JSON_TYPE)


def error_response(fmt: str, errors: list[dict[str, Any]], status_code: int) -> Response:
    """``[{"code", "description"}, ...]`` or ``<errors><error>...</error></errors>``."""
    return render(fmt, "errors", errors, status_code=status_code)


def format_of(path: str) -> str:
    """The format a path asks for by its suffix; XML (the required format) when none is given."""
    return "json" if path.endswith(".json") else "xml"
