"""Kiểm tra manifest do `helm template` sinh ra. Validate rendered manifests.

- Built-in kinds go through kubernetes-validate in strict mode (the same call as
  `kubernetes-validate --strict -k VERSION`), and a missing schema for a built-in kind is an error:
  the CLI only warns, which would let a misspelt apiVersion through.
- Custom resources are checked against the projects' **real** CRDs (``--crds DIR``, repeatable; by
  default the Strimzi 1.2.0 and KEDA 2.20.2 folders of ``../shared/k8s-crds``, a setting:
  ``CITYOPS_K8S_CRDS``). The CRD's ``openAPIV3Schema`` of the served version is turned into a JSON
  Schema the way the API server reads it: ``nullable``, ``x-kubernetes-int-or-string`` and
  ``x-kubernetes-preserve-unknown-fields`` are honoured, and an unknown field anywhere else is an error
  (what ``kubectl apply --validate=strict`` reports). A version the CRD does not serve is an error.
- Kinds with no CRD in those folders (Prometheus Operator, Gateway API) fall back to the strict
  hand-written subsets in helm/crd-schemas.json. Any other kind is an error.

Usage: python helm/validate_manifests.py [-k 1.35.0] [--crds DIR ...] FILE...   (exit 1 on any error)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
CRD_SCHEMAS = Path(__file__).with_name("crd-schemas.json")
# The real CRDs live beside the repository, never inside it (see their README).
CRDS_HOME = Path(os.environ.get("CITYOPS_K8S_CRDS", str(ROOT.parent / "shared" / "k8s-crds")))
DEFAULT_CRD_DIRS = ("strimzi-1.2.0", "keda-v2.20.2")

# ObjectMeta as the chart may write it: strict, so a misplaced key is caught.
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": _DNS_SUBDOMAIN, "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name"],
}


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def openapi_to_jsonschema(node: Any) -> Any:
    """A CRD's structural OpenAPI v3 schema as a strict JSON Schema (draft 2020-12)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "example", "externalDocs"):
            continue
        if key == "properties":
            out[key] = {name: openapi_to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = openapi_to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [openapi_to_jsonschema(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if out.get("type") == "object" and not preserve and "additionalProperties" not in out:
        # Structural schemas prune unknown fields; strict field validation rejects them.
        out["additionalProperties"] = False
        out.setdefault("properties", {})
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


def load_crds(dirs: list[Path]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """JSON Schemas by ``group/version/Kind`` for every served version, and the served versions by ``group/Kind``."""
    schemas: dict[str, Any] = {}
    served: dict[str, list[str]] = {}
    for folder in dirs:
        if not folder.is_dir():
            raise SystemExit(f"LỖI/ERROR: không có thư mục CRD / no CRD folder: {folder} (CITYOPS_K8S_CRDS?)")
        for path in sorted(folder.glob("*.yaml")):
            for doc in load_documents(path):
                if doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    if not version.get("served"):
                        continue
                    schema = openapi_to_jsonschema(version["schema"]["openAPIV3Schema"])
                    schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
                    schema["properties"]["kind"] = {"const": kind}
                    schema["properties"]["metadata"] = OBJECT_META
                    schema["properties"].pop("status", None)  # the chart never writes status
                    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
                    schemas[f"{group}/{version['name']}/{kind}"] = schema
                    served.setdefault(f"{group}/{kind}", []).append(version["name"])
    return schemas, served


def validate_document(
    doc: dict[str, Any],
    version: str,
    subsets: dict[str, Any],
    crds: dict[str, Any] | None = None,
    served: dict[str, list[str]] | None = None,
) -> str | None:
    """Return an error message, or None when the document is valid."""
    crds, served = crds or {}, served or {}
    api_version = str(doc.get("apiVersion"))
    kind = str(doc.get("kind"))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    schema = crds.get(f"{api_version}/{kind}")
    if schema is None and f"{group}/{kind}" in served:
        return f"{api_version} {kind} is not served by the CRD (served: {', '.join(served[f'{group}/{kind}'])})"
    if schema is None:
        schema = subsets.get(f"{api_version}/{kind}")
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
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
    parser.add_argument(
        "--crds",
        action="append",
        type=Path,
        help=f"folder of CRD YAML files (repeatable); default: {', '.join(DEFAULT_CRD_DIRS)} under {CRDS_HOME}",
    )
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    crd_dirs = args.crds or [CRDS_HOME / name for name in DEFAULT_CRD_DIRS]
    crds, served = load_crds(crd_dirs)
    subsets = json.loads(CRD_SCHEMAS.read_text(encoding="utf-8"))["schemas"]

    failures = 0
    for path in args.files:
        kinds: Counter[str] = Counter()
        for doc in load_documents(path):
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            error = validate_document(doc, args.kubernetes_version, subsets, crds, served)
            kinds[str(doc.get("kind"))] += 1
            if error:
                failures += 1
                sys.stdout.write(f"LỖI/ERROR {path.name}: {name}: {error}\n")
        summary = ", ".join(f"{kind}={count}" for kind, count in sorted(kinds.items()))
        crd_names = ",".join(d.name for d in crd_dirs)
        sys.stdout.write(f"{path.name}: {sum(kinds.values())} objects ({summary}) [CRDs: {crd_names}]\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
