"""A deployment without NENA's artefacts mounted: dispatch still starts and exports, import refuses.

The chart mounts the standards folder only when the operator provides it (values ``standards``), so
the services must not crash-loop without it, and must never import a partner's EIDO unchecked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cityops_dispatch.eido import parse
from cityops_dispatch.eido.service import conformance_violations
from cityops_dispatch.eido.standard import installed_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary
from cityops_platform.errors import Unavailable


def test_missing_standards_folder_gives_no_standard(tmp_path: Path) -> None:
    assert installed_standard(str(tmp_path / "absent")) is None


def test_installed_standards_folder_gives_the_standard() -> None:
    standard = installed_standard()
    assert standard is not None
    assert standard.values("Incident Type – Common Registry")


def test_vocabulary_loads_without_the_registries(tmp_path: Path) -> None:
    vocab = load_vocabulary("", str(tmp_path / "absent"))
    assert vocab.category_types["FIRE"]


def test_import_without_the_schema_is_unavailable_never_unchecked(tmp_path: Path) -> None:
    vocab = load_vocabulary("", str(tmp_path / "absent"))
    with pytest.raises(Unavailable, match="EIDO"):
        parse.parse_document('{"eidoVersion": "021.1b"}', standard=None, vocab=vocab)


def test_export_check_is_skipped_without_the_standard(tmp_path: Path) -> None:
    vocab = load_vocabulary("", str(tmp_path / "absent"))
    assert conformance_violations({"anything": 1}, standard=None, vocab=vocab) == []
