"""What Open311 GET may publish: citizen-facing requests only.

A request is published when a citizen channel filed it (the citizen app or Open311 itself is among
its sources), its category is in the public catalog, and it is not of a category that is never
public (city.yaml ``public: false``: emergency medical, security/police, fire). A 1022 hotline
call, a CAD (police) import, a sensor alert or an operator's entry alone is never published; an
incident that a citizen's report later joined (a citizen source among its sources) is.
Free text is redacted by ``publicsafe.redact_contacts`` in mapping.to_service_request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cityops.incidents.v1 import incidents_pb2
from cityops_gateway.open311.catalog import ServiceCatalog, incident_category
from cityops_platform.city import current_city

CITIZEN_SOURCES: frozenset[int] = frozenset({incidents_pb2.SOURCE_CITIZEN_APP, incidents_pb2.SOURCE_OPEN311})
# Categories never public (city.yaml ``public: false``: emergency medical, police, fire).
NEVER_PUBLIC_CATEGORIES: frozenset[str] = frozenset(c.code for c in current_city().categories if not c.public)


def is_public(incident: incidents_pb2.Incident, catalog: ServiceCatalog) -> bool:
    """True when ``incident`` may appear on an anonymous Open311 GET."""
    category = incident_category(incident)
    if not category or category in NEVER_PUBLIC_CATEGORIES:
        return False
    if not CITIZEN_SOURCES.intersection(incident.sources):
        return False
    return catalog.for_incident(category, incident.subcategory) is not None


def is_web_url(url: str) -> bool:
    """``media_url`` must be an absolute http(s) URL with a host (no ``javascript:``, ``data:``...)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and url == url.strip()
