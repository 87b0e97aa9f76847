"""CAP 1.2 conformance of a message we publish: the OASIS XSD (lxml, read from the standards folder,
``CITYOPS_STANDARDS_DIR``) plus the data-dictionary rules the XSD cannot express (CAP 1.2 §3.2):

- ``references``: space-separated ``sender,identifier,sent`` triplets, ``sent`` a CAP date-time;
- every date-time with a numeric offset and no "Z" ("-00:00" stands for UTC), no fractions;
- ``expires`` after ``sent`` (and after ``effective``/``onset`` when given);
- polygons closed (first pair = last pair) with at least four pairs, circles ``lat,lon radius``;
- no control characters in any text (XML 1.0 forbids most of them; the rest are refused too,
  except tab, newline and carriage return in free text).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from cityops_platform.errors import Unavailable
from cityops_platform.standards import ENV, standards_dir

XSD_FILE = "cap/CAP-v1.2.xsd"
NS = "urn:oasis:names:tc:emergency:cap:1.2"
Q = f"{{{NS}}}"
# CAP 1.2 §3.3.2: "2002-05-24T16:49:00-07:00"; alphabetic zone designators MUST NOT be used.
CAP_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
_TIME_TAGS = ("sent", "effective", "onset", "expires")
# C0 except tab/newline/CR, DEL, C1, and the XML non-characters.
FREE_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
LINE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_FREE_TEXT_TAGS = frozenset({"description", "instruction", "note"})
_PAIR = re.compile(r"^[-+]?\d+(\.\d+)?,[-+]?\d+(\.\d+)?$")


def control_character(text: str, *, free_text: bool) -> str | None:
    """The first forbidden control character of ``text`` as ``U+XXXX``, or None."""
    match = (FREE_TEXT_CONTROL if free_text else LINE_CONTROL).search(text)
    return f"U+{ord(match.group(0)):04X}" if match else None


@lru_cache(maxsize=2)
def _schema(folder: str) -> etree.XMLSchema:
    root = Path(folder) if folder else standards_dir()
    try:
        return etree.XMLSchema(etree.parse(str(root / XSD_FILE)))
    except (OSError, etree.XMLSchemaParseError) as exc:  # a deployment without the standards folder
        raise Unavailable(
            f"Không đọc được lược đồ CAP 1.2 tại {root / XSD_FILE}; đặt {ENV} (the CAP 1.2 XSD cannot be read "
            f"from {root / XSD_FILE}; set {ENV}): {exc}") from exc


def schema_errors(xml: str, *, folder: str = "") -> list[str]:
    """Where the document breaks the OASIS CAP 1.2 XSD (empty when valid)."""
    try:
        doc = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"XML: {exc}"]
    schema = _schema(folder)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def _time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if CAP_DATETIME.match(text) else None


def rule_errors(xml: str) -> list[str]:
    """The data-dictionary rules (see the module docstring) on a CAP document."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"XML: {exc}"]
    errors: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str) or len(element):
            continue  # comments, and containers (their text is the indentation between children)
        name = etree.QName(element).localname
        text = element.text or ""
        bad = control_character(text, free_text=name in _FREE_TEXT_TAGS)
        if bad:
            errors.append(f"{name}: control character {bad}")
        if name in _TIME_TAGS and _time(text.strip()) is None:
            errors.append(f"{name}: {text!r} is not a CAP date-time with a numeric offset (no 'Z', no fraction)")
    sent = _time((root.findtext(f"{Q}sent") or "").strip())
    references = root.findtext(f"{Q}references")
    if references is not None:
        for triplet in references.split():
            parts = triplet.split(",")
            if len(parts) != 3 or not all(parts) or _time(parts[2]) is None:
                errors.append(f"references: {triplet!r} is not sender,identifier,sent")
    for i, info in enumerate(root.findall(f"{Q}info")):
        moments = {tag: _time((info.findtext(f"{Q}{tag}") or "").strip()) for tag in ("effective", "onset", "expires")}
        expires = moments["expires"]
        if expires is not None:
            for tag, other in (("sent", sent), ("effective", moments["effective"]), ("onset", moments["onset"])):
                if other is not None and expires <= other:
                    errors.append(f"info[{i}].expires: not after {tag}")
        for j, polygon in enumerate(info.iterfind(f"{Q}area/{Q}polygon")):
            pairs = (polygon.text or "").split()
            if len(pairs) < 4 or pairs[0] != pairs[-1] or not all(_PAIR.match(p) for p in pairs):
                errors.append(f"info[{i}].area.polygon[{j}]: not a closed ring of at least 4 lat,lon pairs")
        for j, circle in enumerate(info.iterfind(f"{Q}area/{Q}circle")):
            centre, _, radius = (circle.text or "").partition(" ")
            if not _PAIR.match(centre) or not re.match(r"^\d+(\.\d+)?$", radius.strip()):
                errors.append(f"info[{i}].area.circle[{j}]: not 'lat,lon radius'")
    return errors


def conformance_errors(xml: str, *, folder: str = "") -> list[str]:
    """XSD and data-dictionary problems of a CAP message (empty = publishable)."""
    return [*schema_errors(xml, folder=folder), *rule_errors(xml)]
