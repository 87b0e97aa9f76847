"""No city is spelled in code: a city's names live in its folder (cities/<name>/), nowhere else.

The names come from the city folders themselves (each folder's name, its manifest's CAP sender and
domain, its simulator's region and districts), plus the spellings of the reference city that no
file holds verbatim (without diacritics, the province of HCMC, its time zone's name). Docs and
tests may name the cities; the code the platform runs may not.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import yaml

from cityops_platform.city import available_cities, cities_dir, load_city

ROOT = Path(__file__).resolve().parents[3]
# The code the platform runs or deploys: services, the shared runtime, the schema, the load tests,
# the chart and the build. Generated protobuf modules are derived from protos/ (checked there).
CODE = ["services", "libs/src/cityops_platform", "protos", "loadtests", "scripts", "helm", "deploy",
        "Dockerfile", "Makefile", "pyproject.toml"]
SUFFIXES = {".py", ".proto", ".js", ".html", ".css", ".yaml", ".yml", ".json", ".toml", ".tpl", ".txt", ".sh",
            ".j2", ".sql", ".cfg", ".ini", ""}
SKIP_PARTS = {"__pycache__", "vendor", "node_modules", ".venv"}
# Spellings of the reference city not held verbatim by any manifest.
EXTRA = [r"binh[\s_-]?duong", r"ho[\s_-]?chi[\s_-]?minh", r"hồ\s+chí\s+minh", r"thu\s+dau\s+mot", r"\bBD-IOC\b",
         r"\bTP\.?\s?HCM\b"]


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").replace(
        "đ", "d").replace("Đ", "D")


def city_names() -> set[str]:
    """Every city's own names, read from its folder."""
    names: set[str] = set()
    for name in available_cities():
        city = load_city(name)
        names.add(name.replace("-", " "))
        names.add(city.cap.sender)
        if city.domain:
            names.add(city.domain)
        simulator = city.file("sensors/simulator.yaml")
        if simulator.is_file():
            data = yaml.safe_load(simulator.read_text(encoding="utf-8")) or {}
            names.update(str(d["name"]) for d in data.get("districts") or [])
            if data.get("region"):
                names.add(str(data["region"]))
    return {n for n in names if len(n) >= 5}


def pattern() -> re.Pattern[str]:
    names = sorted(city_names(), key=len, reverse=True)
    alternatives = [re.escape(n) for n in names] + [re.escape(_ascii(n)) for n in names if _ascii(n) != n] + EXTRA
    return re.compile("|".join(f"(?<![\\w.-]){a}(?![\\w-])" if not a.startswith(r"\b") else a
                               for a in alternatives), re.IGNORECASE)


def code_files() -> list[Path]:
    out: list[Path] = []
    for entry in CODE:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            built = any(part.endswith(".egg-info") for part in f.parts)  # pip's build records
            if SKIP_PARTS & set(f.parts) or built or f.name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")):
                continue
            if f.suffix in SUFFIXES and f.suffix != ".md":
                out.append(f)
    return out


def test_the_names_come_from_every_city_folder() -> None:
    names = city_names()
    assert len(available_cities()) >= 2 and cities_dir().is_dir()
    # Both cities contribute: a name of the reference city and one of the second city are found.
    assert any("Bình Dương" in n for n in names) and any("Eindhoven" in n for n in names), sorted(names)


def test_the_pattern_catches_the_spellings_it_is_meant_to() -> None:
    rx = pattern()
    for text in ("Trung tâm Bình Dương", "binhduong.gov.vn", "Asia/Ho_Chi_Minh", "Thủ Dầu Một", "BD-IOC-2026",
                 "Operationeel Centrum Eindhoven", "Thu Dau Mot"):
        assert rx.search(text), text
    for text in ("district", "city.yaml", "current_city().timezone", "Trung tâm Điều hành Thông minh"):
        assert not rx.search(text), text


def test_no_city_name_appears_in_code_outside_the_city_folders() -> None:
    rx = pattern()
    hits = []
    for f in code_files():
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = rx.search(line)
            if match:
                hits.append(f"{f.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not hits, "city names in code (move them into cities/<name>/):\n" + "\n".join(hits[:60])
