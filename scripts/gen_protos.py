#!/usr/bin/env python3
"""Generate Python, gRPC and mypy stubs from protos/ into libs/src (`make protos`).

Output modules are importable as `cityops.<domain>.v1.<file>_pb2`. Idempotent: code is generated
into a scratch folder and only then swapped in, replacing every previously generated module, so a
deleted .proto leaves no importable ghost behind and a failed run leaves the old code intact.
Exit status is non-zero when protoc fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "libs" / "src"
PACKAGE = "cityops"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _well_known_include() -> Path:
    import grpc_tools  # type: ignore[import-untyped]  # lazy: `--help` works without grpcio-tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def _plugin(name: str) -> Path:
    """Find a protoc plugin next to the running interpreter first (the venv), then on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"gen_protos: plugin {name} not found (pip install mypy-protobuf)")
    return Path(found)


def _clean(out_root: Path) -> int:
    """Delete previously generated modules; hand-written files are never touched."""
    removed = 0
    package_dir = out_root / PACKAGE
    if not package_dir.exists():
        return 0
    for path in package_dir.rglob("*"):
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            path.unlink()
            removed += 1
    return removed


def _install(scratch: Path, out_root: Path) -> int:
    """Copy freshly generated modules from `scratch` into `out_root`; returns how many."""
    copied = 0
    for path in scratch.rglob("*"):
        if path.is_file() and path.name.endswith(GENERATED_SUFFIXES):
            target = out_root / path.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


def _ensure_init_files(proto_root: Path, out_root: Path, proto_files: list[Path]) -> int:
    created = 0
    for proto in proto_files:
        rel_dir = proto.relative_to(proto_root).parent
        current = out_root
        for part in rel_dir.parts:
            current = current / part
            init = current / "__init__.py"
            if not init.exists():
                init.write_text("")
                created += 1
    # PEP 561 marker: without it mypy ignores the .pyi stubs of an installed `cityops` package.
    marker = out_root / PACKAGE / "py.typed"
    if not marker.exists():
        marker.write_text("")
        created += 1
    return created


def generate(proto_root: Path = PROTO_ROOT, out_root: Path = OUT_ROOT) -> int:
    proto_files = sorted(proto_root.rglob("*.proto"))
    if not proto_files:
        print(f"gen_protos: no .proto files under {proto_root}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="cityops-protos-") as tmp:
        scratch = Path(tmp)
        if not _run_protoc(proto_root, scratch, proto_files):
            return 1
        out_root.mkdir(parents=True, exist_ok=True)
        removed = _clean(out_root)
        generated = _install(scratch, out_root)
    inits = _ensure_init_files(proto_root, out_root, proto_files)
    shown = out_root.relative_to(ROOT) if out_root.is_relative_to(ROOT) else out_root
    summary = f"{len(proto_files)} protos -> {generated} files in {shown}"
    print(f"gen_protos: {summary} (replaced {removed}, new __init__.py/py.typed: {inits})")
    return 0


def _run_protoc(proto_root: Path, out_root: Path, proto_files: list[Path]) -> bool:
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={_well_known_include()}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *(str(p.relative_to(proto_root)) for p in proto_files),
    ]
    result = subprocess.run(cmd, cwd=proto_root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr or result.stdout)
        print(f"gen_protos: protoc failed (exit {result.returncode})", file=sys.stderr)
        return False
    # mypy-protobuf announces every file it writes; keep only real warnings (e.g. unused imports).
    warnings = [line for line in result.stderr.splitlines() if not line.startswith("Writing mypy to")]
    if warnings:
        sys.stderr.write("\n".join(warnings) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-root", type=Path, default=PROTO_ROOT)
    parser.add_argument("--out", type=Path, default=OUT_ROOT)
    args = parser.parse_args(argv)
    return generate(args.proto_root.resolve(), args.out.resolve())


if __name__ == "__main__":
    sys.exit(main())
