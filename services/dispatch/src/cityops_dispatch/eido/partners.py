"""Partner CADs that receive our EIDOs: data (config/partners.yaml or ``CITYOPS_DISPATCH_EIDO_PARTNERS_FILE``),
with each secret read from the environment variable the file names (never from the file)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from cityops_platform import netguard
from cityops_platform.city import current_city

CONFIG_FILE = current_city().file("dispatch/partners.yaml")  # this process's city


@dataclass(frozen=True)
class Partner:
    name: str
    url: str
    secret: str  # Standard Webhooks secret, "whsec_<base64>"
    categories: frozenset[str] = frozenset()  # the city's category codes; empty = every incident

    def wants(self, category: str) -> bool:
        return not self.categories or category in self.categories


def partners_from_dict(data: dict[str, Any], environ: dict[str, str] | None = None) -> tuple[Partner, ...]:
    """Build the partners; raises ValueError naming a bad entry (unknown category, missing secret, bad URL)."""
    env = os.environ if environ is None else environ
    out: list[Partner] = []
    names: set[str] = set()
    for raw in data.get("partners") or []:
        name = str(raw.get("name") or "").strip()
        url = str(raw.get("url") or "").strip()
        if not name or name in names:
            raise ValueError(f"partners: missing or duplicate name {name!r}")
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ValueError(f"partners: {name}: url must be http(s)://host/...")
        try:  # a literal non-public host is refused now; a name is checked at every send
            netguard.check_url(url, netguard.parse_allow(env.get("CITYOPS_OUTBOUND_ALLOW_CIDRS", "")))
        except netguard.UnsafeAddress as exc:
            raise ValueError(f"partners: {name}: {exc}") from None
        secret_env = str(raw.get("secret_env") or "")
        secret = env.get(secret_env, "") if secret_env else ""
        if not secret:
            raise ValueError(f"partners: {name}: the environment variable {secret_env or '(secret_env)'} is empty")
        known = current_city().category_codes
        categories = frozenset(str(c) for c in raw.get("categories") or [])
        if categories - set(known):
            raise ValueError(f"partners: {name}: unknown categories {sorted(categories - set(known))} "
                             f"(the city's codes: {', '.join(known)})")
        names.add(name)
        out.append(Partner(name, url, secret, categories))
    return tuple(out)


def load_partners(path: str = "") -> tuple[Partner, ...]:
    """The configured partners (the packaged file has none)."""
    file = Path(path) if path else CONFIG_FILE
    return partners_from_dict(yaml.safe_load(file.read_text(encoding="utf-8")) or {})
