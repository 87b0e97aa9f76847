"""The RBAC table of docs/security.md, generated from each service's POLICY (the source of truth).

    .venv/bin/python scripts/rbac_table.py            # print the table
    .venv/bin/python scripts/rbac_table.py --write    # refresh it in docs/security.md

Every RPC of each service's proto is listed, so an RPC missing from its policy shows as open to
no role (deny by default). tests/unit/security/test_rbac_doc.py fails when the docs fall behind.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from cityops_platform.auth import Role

SERVICES = ("incidents", "dispatch", "sensors", "notifications")
BEGIN, END = "<!-- rbac:begin (scripts/rbac_table.py) -->", "<!-- rbac:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"


def rbac_markdown() -> str:
    roles = [r.value for r in Role]
    out: list[str] = []
    for service in SERVICES:
        server = importlib.import_module(f"cityops_{service}.server")
        proto = importlib.import_module(f"cityops.{service}.v1.{service}_pb2")
        descriptor = next(s for s in proto.DESCRIPTOR.services_by_name.values() if s.full_name == server.SERVICE)
        out.append(f"\n**{service}** (`{server.SERVICE}`)\n")
        out.append("| RPC | " + " | ".join(roles) + " |")
        out.append("|---|" + "---|" * len(roles))
        for method in descriptor.methods:
            allowed = server.POLICY.allowed_roles(f"/{server.SERVICE}/{method.name}")
            cells = ["✓" if role in allowed else "·" for role in roles]
            out.append(f"| {method.name} | " + " | ".join(cells) + " |")
    return "\n".join(out).strip() + "\n"


def splice(doc: str, table: str) -> str:
    """``doc`` with the text between the markers replaced by ``table``."""
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise ValueError(f"markers missing in the document: {BEGIN} … {END}")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC}")
    args = parser.parse_args()
    table = rbac_markdown()
    if args.write:
        DOC.write_text(splice(DOC.read_text(encoding="utf-8"), table), encoding="utf-8")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
