"""Kiểm tra manifest do `helm template` sinh ra. Validate rendered manifests.

Built-in kinds go through kubernetes-validate in strict mode (the same call as
`kubernetes-validate --strict -k VERSION`), and a missing schema for a built-in kind is an error:
the CLI only warns, which would let a misspelt apiVersion through. kubernetes-validate knows no
CRDs, so KafkaTopic, KafkaUser, ScaledObject, TriggerAuthentication and ServiceMonitor are checked
against the strict subsets in helm/crd-schemas.json; any other kind is an error.

Usage: python helm/validate_manifests.py [-k 1.35.0] FILE...   (exit 1 on any error)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

CRD_SCHEMAS = Path(__file__).with_name("crd-schemas.json")


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def validate_document(doc: dict[str, Any], version: str, crd_schemas: dict[str, Any]) -> str | None:
    """Return an error message, or None when the document is valid."""
    type_key = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if type_key in crd_schemas:
        validator = jsonschema.Draft202012Validator(crd_schemas[type_key])
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            path = ".".join(str(p) for p in first.path)
            return f"{path}: {first.message}"
        return None
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{path}: {exc.message}"
    except SchemaNotFoundError as exc:
        return f"unknown kind (no built-in schema, no CRD schema): {exc.message}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--kubernetes-version", default="1.35.0")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    crd_schemas = json.loads(CRD_SCHEMAS.read_text(encoding="utf-8"))["schemas"]

    failures = 0
    for path in args.files:
        kinds: Counter[str] = Counter()
        for doc in load_documents(path):
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            error = validate_document(doc, args.kubernetes_version, crd_schemas)
            kinds[str(doc.get("kind"))] += 1
            if error:
                failures += 1
                sys.stdout.write(f"LỖI/ERROR {path.name}: {name}: {error}\n")
        summary = ", ".join(f"{kind}={count}" for kind, count in sorted(kinds.items()))
        sys.stdout.write(f"{path.name}: {sum(kinds.values())} objects ({summary})\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
