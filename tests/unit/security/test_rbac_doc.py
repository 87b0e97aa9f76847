"""docs/security.md shows the RBAC table generated from the services' policies (scripts/rbac_table.py)."""

from __future__ import annotations

from pathlib import Path

from cityops_devtools.testing import load_by_path
from cityops_platform.auth import ALL_ROLES

ROOT = Path(__file__).resolve().parents[3]


def _script() -> object:
    return load_by_path("cityops_rbac_table", ROOT / "scripts" / "rbac_table.py")


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


def test_the_object_matrix_names_real_rpcs_and_roles_the_policies_allow() -> None:
    """Every row of the object-level matrix (docs/security.md, objects:begin/end) is an RPC of the
    service's policy, and its role is one the policy lets call it: the matrix cannot drift from code."""
    import importlib

    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    block = doc.split("<!-- objects:begin -->")[1].split("<!-- objects:end -->")[0]
    rows = [line.split("|")[1:3] for line in block.splitlines() if line.startswith("| ") and "." in line.split("|")[1]]
    rows = [(rpc.strip(), role.strip()) for rpc, role in rows if not rpc.strip().startswith("dịch vụ")]
    assert len(rows) >= 12
    named = set()
    for rpc, role in rows:
        service, method = rpc.split(".")
        server = importlib.import_module(f"cityops_{service}.server")
        allowed = server.POLICY.allowed_roles(f"/{server.SERVICE}/{method}")
        assert allowed, f"{rpc} is not in the {service} policy"
        first = role.split()[0]
        if first in ALL_ROLES:
            assert first in allowed, f"{rpc}: the policy does not let {first} call it"
        named.add(rpc)
    # The object-bound RPCs of the issue are all covered.
    assert {"dispatch.AcknowledgeAssignment", "dispatch.UpdateUnitStatus", "dispatch.StreamLocations",
            "dispatch.ImportEido", "sensors.RegisterSensor", "sensors.IngestReadings", "incidents.ReportIncident",
            "notifications.ListSubscriptions", "notifications.DeleteSubscription"} <= named
