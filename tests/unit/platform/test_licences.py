"""Licences of everything the runtime image carries: every distribution of requirements-runtime.lock
(as installed here, read with importlib.metadata) must be under a licence of the allow-list below.

GPL, AGPL and LGPL-only fail, and so does a distribution whose metadata states no licence we can
read: a new dependency is either clearly permissive or reviewed by a person (REVIEWED, with the
reason). The rules are explained in docs/dependencies.md.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"

# SPDX identifiers that may be linked into and shipped with an Apache-2.0 city platform.
ALLOWED_SPDX = {
    "0BSD", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "HPND", "ISC", "MIT", "MIT-0", "MIT-CMU",
    "MPL-2.0", "PSF-2.0", "Python-2.0", "Unlicense", "Zlib", "ZPL-2.1",
}
# Trove classifiers ("License :: ...", last part) meaning one of the above.
ALLOWED_CLASSIFIERS = {
    "Apache Software License", "BSD License", "ISC License (ISCL)", "MIT License", "MIT No Attribution License (MIT-0)",
    "Mozilla Public License 2.0 (MPL 2.0)", "Python Software Foundation License", "The Unlicense (Unlicense)",
    "Zope Public License", "zlib/libpng License",
    "Repoze Public License",  # BSD-style (venusian); OSI-approved
}
NEUTRAL_CLASSIFIERS = {"OSI Approved", "DFSG approved"}  # say nothing about which licence
# Free-text License fields seen in practice for the licences above (exact, case-insensitive).
ALLOWED_TEXT = {
    "mit", "mit license", "bsd-3-clause", "3-clause bsd license", "bsd 3-clause license", "apache-2.0",
    "apache 2.0", "apache 2", "apache license, version 2.0", "apache license 2.0", "apache", "apache license",
    "psf-2.0", "mpl-2.0", "isc",
}
# Distributions whose metadata is unreadable but whose licence a person checked: name -> (SPDX, why).
REVIEWED: dict[str, tuple[str, str]] = {}
COPYLEFT = re.compile(r"\b(A?GPL|LGPL|GNU (Affero |Lesser |Library )?General Public)", re.IGNORECASE)


def runtime_distributions() -> list[tuple[str, str]]:
    """(name, version) of every runtime lock entry whose environment marker holds here."""
    out = []
    for line in RUNTIME_LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+))?", line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker.strip()).evaluate():
            continue
        out.append((name, version))
    return out


def _spdx_allowed(expression: str) -> bool:
    """An SPDX expression is allowed when one OR-alternative has only allowed AND-terms."""
    cleaned = expression.replace("(", " ").replace(")", " ")
    for alternative in re.split(r"\s+OR\s+", cleaned):
        terms = [t.strip() for t in re.split(r"\s+AND\s+", alternative) if t.strip()]
        if terms and all(t.removesuffix("+") in ALLOWED_SPDX for t in terms):
            return True
    return False


def licence_verdict(metadata: md.PackageMetadata) -> tuple[bool, str]:
    """(allowed, what the metadata says) from License-Expression, then classifiers, then License."""
    expression = metadata.get("License-Expression")
    if expression:
        return _spdx_allowed(expression), f"License-Expression: {expression}"
    classifiers = {c.split(" :: ")[-1] for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")}
    classifiers -= NEUTRAL_CLASSIFIERS
    if classifiers:
        # Dual licensing: one permissive classifier is enough (an LGPL-*only* package has none).
        return bool(classifiers & ALLOWED_CLASSIFIERS), f"classifiers: {sorted(classifiers)}"
    text = (metadata.get("License") or "").strip()
    first_line = text.splitlines()[0].strip() if text else ""
    if first_line:
        return first_line.lower() in ALLOWED_TEXT and not COPYLEFT.search(text), f"License: {first_line[:80]}"
    return False, "no licence in the metadata"


def test_runtime_lock_lists_the_runtime_dependencies() -> None:
    names = {canonicalize_name(n) for n, _ in runtime_distributions()}
    assert {"faust-streaming", "grpcio", "asyncpg", "starlette"} <= names
    # Build and test tools never reach the runtime image.
    assert not names & {"grpcio-tools", "mypy-protobuf", "types-protobuf", "pytest", "mypy", "uv", "setuptools"}


def test_every_runtime_distribution_has_an_allowed_licence() -> None:
    refused = []
    for name, version in runtime_distributions():
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is in requirements-runtime.lock but not installed: run `make setup`")
        assert dist.version == version, f"{name}: installed {dist.version}, locked {version}: run `make setup`"
        key = canonicalize_name(name)
        if key in REVIEWED:
            allowed, said = REVIEWED[key][0] in ALLOWED_SPDX, f"reviewed: {REVIEWED[key][0]}"
        else:
            allowed, said = licence_verdict(dist.metadata)
        if not allowed:
            refused.append(f"{name}=={version}: {said}")
    assert not refused, "licences not on the allow-list (docs/dependencies.md):\n" + "\n".join(refused)


@pytest.mark.parametrize("package", ["cityops-platform", "cityops-incidents", "cityops-dispatch",
                                     "cityops-sensors", "cityops-notifications", "cityops-gateway"])
def test_our_own_packages_declare_apache_2(package: str) -> None:
    assert md.metadata(package).get("License-Expression") == "Apache-2.0"


@pytest.mark.parametrize(("fields", "allowed"), [
    ({"License-Expression": "GPL-2.0-or-later"}, False),       # unidecode's, the reason for this test
    ({"License-Expression": "LGPL-3.0-only"}, False),
    ({"License-Expression": "MIT OR GPL-3.0-only"}, True),     # dual: the permissive choice is ours
    ({"License-Expression": "MIT AND GPL-3.0-only"}, False),
    ({"Classifier": "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)"}, False),
    ({"Classifier": "License :: OSI Approved :: GNU Affero General Public License v3"}, False),
    ({"Classifier": "License :: OSI Approved"}, False),          # says nothing: unknown
    ({"License": "GPLv2+"}, False),
    ({}, False),
    ({"Classifier": "License :: OSI Approved :: BSD License"}, True),
    ({"License": "Apache 2.0"}, True),
])
def test_verdict_refuses_copyleft_and_unknown(fields: dict[str, str], allowed: bool) -> None:
    from email.message import Message

    metadata = Message()
    for key, value in fields.items():
        metadata[key] = value
    assert licence_verdict(metadata)[0] is allowed  # type: ignore[arg-type]
