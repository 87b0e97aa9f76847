"""docs/security.md shows the RBAC table generated from the services' policies (scripts/rbac_table.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _script() -> object:
    spec = importlib.util.spec_from_file_location("cityops_rbac_table", ROOT / "scripts" / "rbac_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rbac_table_in_the_docs_matches_the_policies() -> None:
    script = _script()
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    table = script.rbac_markdown()  # type: ignore[attr-defined]
    assert script.splice(doc, table) == doc, (  # type: ignore[attr-defined]
        "docs/security.md is out of date: run .venv/bin/python scripts/rbac_table.py --write"
    )


def test_the_table_lists_every_rpc_and_denies_unlisted_ones() -> None:
    table = _script().rbac_markdown()  # type: ignore[attr-defined]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| RPC")]
    assert len(rows) >= 41
    assert "| ReportIncident | ✓ |" in table  # citizens may report (the first column is citizen)
