"""Every outbound gRPC call in the services and the runtime has a deadline, and channels are made
by the runtime's factory (so TLS settings apply everywhere). A source scan, so a new call site
without ``timeout=`` fails here before it can hang a caller."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/src/cityops_platform/**/*.py")]
FACTORY = ROOT / "libs/src/cityops_platform/grpc/client.py"
# Local tooling on plaintext loopback (every call still has a deadline): the health probes of
# `cityops health`, and the city simulator (a development load generator).
PLAINTEXT_OK = {
    ROOT / "libs/src/cityops_platform/cli.py",
    *ROOT.glob("services/sensors/src/cityops_sensors/simulator/*.py"),
}


def _calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)]


def test_the_scan_sees_the_sources() -> None:
    assert len(SOURCES) > 50


def test_every_call_that_sends_grpc_metadata_also_sets_a_timeout() -> None:
    missing = []
    for path in SOURCES:
        for call in _calls(path):
            names = {k.arg for k in call.keywords}
            if "metadata" in names and "timeout" not in names and None not in names:
                missing.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not missing, f"gRPC calls without a deadline: {missing}"


def test_channels_come_from_the_runtime_factory() -> None:
    direct = []
    for path in SOURCES:
        if path == FACTORY or path in PLAINTEXT_OK:
            continue
        for call in _calls(path):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in {"insecure_channel", "secure_channel"}:
                direct.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not direct, f"channels made outside cityops_platform.grpc.client.create_channel: {direct}"
