"""Targets from loadtests/targets.yaml, checked against summary.json by dotted metric path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "targets.yaml"


@dataclass
class Target:
    name: str
    metric: str
    description: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, summary: dict[str, Any]) -> dict[str, Any]:
        value = lookup(summary, self.metric)
        if not isinstance(value, int | float):
            ok, why = False, "không đo được (not measured)"
        elif self.minimum is not None and value < self.minimum:
            ok, why = False, f"{value:g} < {self.minimum:g}"
        elif self.maximum is not None and value > self.maximum:
            ok, why = False, f"{value:g} > {self.maximum:g}"
        else:
            ok, why = True, "đạt (met)"
        bound = f"≥ {self.minimum:g}" if self.minimum is not None else f"≤ {self.maximum:g}"
        return {"name": self.name, "metric": self.metric, "description": self.description, "target": bound,
                "value": value, "ok": ok, "detail": why}


def load_targets(path: Path = DEFAULT_FILE) -> list[Target]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for row in data["targets"]:
        out.append(Target(row["name"], row["metric"], row.get("description", ""), row.get("min"), row.get("max")))
    return out


def lookup(data: Any, dotted: str) -> Any:
    """``a.b.c`` in nested dicts; keys may contain dots only if quoted as a whole segment list."""
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
