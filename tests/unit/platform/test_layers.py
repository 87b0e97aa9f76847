"""No service's imports run back up its own layers (docs/architecture.md, "layers").

Parsed with ``ast`` from the source tree, nothing is imported. Layers, lowest first:
``models`` / ``store`` → ``service`` → ``servicer`` → ``server``; ``agents`` → ``app``. A lower one
never imports a higher one, a service never imports another service's package, and the worker
(everything ``app.py`` reaches) never imports api-only modules (servicers, ``server.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("incidents", "dispatch", "notifications", "sensors", "gateway")
PACKAGES = {f"cityops_{name}": ROOT / "services" / name / "src" / f"cityops_{name}" for name in SERVICES}


def kind(module: str) -> str:
    """The layer a module belongs to, by its last name: ``store``, ``service``, ``servicer``, …"""
    last = module.rsplit(".", 1)[-1]
    if last == "store" or last.endswith("_store"):
        return "store"
    return last


def module_name(package: str, path: Path) -> str:
    rel = path.relative_to(PACKAGES[package]).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([package, *parts])


def imports_of(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def service_modules() -> dict[str, tuple[str, set[str]]]:
    """module → (its service package, what it imports), for every module of every service."""
    out: dict[str, tuple[str, set[str]]] = {}
    for package, src in PACKAGES.items():
        for path in sorted(src.rglob("*.py")):
            module = module_name(package, path)
            out[module] = (package, imports_of(path, module))
    return out


MODULES = service_modules()
# A lower layer never imports these.
FORBIDDEN_ABOVE: dict[str, frozenset[str]] = {
    "store": frozenset({"service", "servicer", "agents", "server", "app"}),
    "models": frozenset({"store", "service", "servicer", "agents", "server", "app"}),
    "service": frozenset({"servicer", "agents", "server", "app"}),
    "servicer": frozenset({"agents", "server", "app"}),
    "agents": frozenset({"servicer", "server"}),
}
API_ONLY = frozenset({"servicer", "server"})
# Modules only the api uses although their layer is not api-only: the incidents api's
# IncidentService (the worker has reactions.py; both share intake.py and transitions.py below them).
API_ONLY_MODULES = frozenset({
    "cityops_incidents.incidents.service",
    "cityops_incidents.incidents.watch",
    "cityops_incidents.ratings.service",
})


def layer_violations(modules: dict[str, tuple[str, set[str]]], services: frozenset[str] = frozenset(PACKAGES)
                     ) -> list[str]:
    problems = []
    for module, (package, imported) in modules.items():
        below = FORBIDDEN_ABOVE.get(kind(module), frozenset())
        for target in sorted(imported):
            if target in modules and kind(target) in below:
                problems.append(f"{module} ({kind(module)}) imports {target} ({kind(target)})")
            other = target.split(".")[0]
            if other in services and other != package:
                problems.append(f"{module} imports another service's package: {target}")
    return problems


def worker_closure(modules: dict[str, tuple[str, set[str]]], package: str) -> set[str]:
    """Every module of ``package`` that its worker (``app.py``) reaches through imports."""
    start = f"{package}.app"
    seen: set[str] = set()
    todo = [start] if start in modules else []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(t for t in modules[module][1] if t in modules and t not in seen)
    return seen


def test_every_service_package_is_parsed() -> None:
    for package, src in PACKAGES.items():
        assert src.is_dir(), src
        assert any(m.startswith(f"{package}.") for m in MODULES), package


def test_no_module_imports_a_layer_above_it_or_another_service() -> None:
    assert layer_violations(MODULES) == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if (PACKAGES[p] / "app.py").exists()])
def test_the_worker_never_imports_api_only_modules(package: str) -> None:
    reached = worker_closure(MODULES, package)
    assert f"{package}.app" in reached
    assert sorted(m for m in reached if kind(m) in API_ONLY or m in API_ONLY_MODULES) == []


def test_the_checks_catch_each_kind_of_upward_import() -> None:
    """The rules themselves: a made-up tree with one violation of each kind is refused four times."""
    fake = {
        "cityops_x.things.store": ("cityops_x", {"cityops_x.things.service"}),
        "cityops_x.things.service": ("cityops_x", {"cityops_x.things.servicer", "cityops_y.other"}),
        "cityops_x.things.servicer": ("cityops_x", set()),
        "cityops_x.app": ("cityops_x", {"cityops_x.things.agents"}),
        "cityops_x.things.agents": ("cityops_x", {"cityops_x.things.servicer"}),
    }
    problems = layer_violations(fake, frozenset({"cityops_x", "cityops_y"}))
    assert any("things.store (store) imports cityops_x.things.service" in p for p in problems)
    assert any("things.service (service) imports cityops_x.things.servicer" in p for p in problems)
    assert any("another service's package: cityops_y.other" in p for p in problems)
    assert any("things.agents (agents) imports cityops_x.things.servicer" in p for p in problems)
    assert "cityops_x.things.servicer" in worker_closure(fake, "cityops_x")
    assert "cityops_x.things.service" not in worker_closure(fake, "cityops_x")
