"""The city loader: a folder per city, a validated manifest, and the registry of codes the API
checks categories and agencies against (old enum values map onto codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from cityops_platform.city import (
    CITY_ENV,
    CityNotFound,
    CodeRegistry,
    UnknownCode,
    available_cities,
    city_name,
    load_city,
    parse_city,
)
from cityops_platform.city.configmap import city_configmap
from cityops_platform.errors import FieldViolation

ROOT = Path(__file__).resolve().parents[3]
CITIES = ROOT / "cities"


def manifest(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CITIES / name / "city.yaml").read_text(encoding="utf-8"))
    return data


def test_every_city_folder_loads_and_the_default_is_named_by_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(available_cities(CITIES)) >= {"binh-duong", "eindhoven"}
    monkeypatch.delenv(CITY_ENV, raising=False)
    assert city_name(CITIES) == (CITIES / "DEFAULT").read_text(encoding="utf-8").strip()
    monkeypatch.setenv(CITY_ENV, "eindhoven")
    assert city_name(CITIES) == "eindhoven"
    ehv = load_city("eindhoven", root=CITIES)
    assert ehv.languages == ("nl", "en") and ehv.default_language == "nl" and ehv.timezone == "Europe/Amsterdam"
    assert ehv.agency_codes == ("BRANDWEER", "AMBULANCE", "POLITIE", "GEMEENTE")


def test_an_unknown_city_names_the_known_ones() -> None:
    with pytest.raises(CityNotFound, match="eindhoven"):
        load_city("atlantis", root=CITIES)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["categories"][0].update(agency="NOPE"), "agency 'NOPE' is not one of"),
    (lambda m: m.update(languages=[]), "at least one"),
    (lambda m: m.update(timezone="Mars/Olympus"), "not an IANA zone"),
    (lambda m: m["categories"].append(dict(m["categories"][0])), "unique"),
    (lambda m: m["agencies"][0]["names"].pop("vi"), "default language 'vi'"),
    (lambda m: m["categories"][0].update(code="lower"), "UPPER_SNAKE_CASE"),
    (lambda m: m["service_area"].update(polygon=[[1, 1], [1, 1], [2, 2]]), "3 distinct points"),
    (lambda m: m["cap"].update(identifier_prefix="bad prefix"), "identifier_prefix"),
    (lambda m: m.update(colour="blue"), "colour"),
])
def test_a_broken_manifest_is_refused_naming_what_is_wrong(change: Any, message: str) -> None:
    raw = manifest("binh-duong")
    change(raw)
    with pytest.raises(ValidationError, match=message):
        parse_city(raw, name="broken", path=CITIES / "binh-duong")


def test_codes_resolve_from_codes_or_old_enum_names_and_unknown_ones_name_the_known() -> None:
    bd = CodeRegistry.categories(load_city("binh-duong", root=CITIES))
    assert bd.resolve(code="FLOOD", enum_name=None, code_field="category_code", enum_field="category") == "FLOOD"
    assert bd.resolve(code="", enum_name="FIRE", code_field="category_code", enum_field="category") == "FIRE"
    assert bd.resolve(code="", enum_name="", code_field="category_code", enum_field="category") is None
    ehv = CodeRegistry.categories(load_city("eindhoven", root=CITIES))
    with pytest.raises(UnknownCode) as err:  # an old client's enum means nothing in Eindhoven
        ehv.resolve(code="", enum_name="FIRE", code_field="category_code", enum_field="category")
    assert err.value.violation.field == "category" and "BRAND, MEDISCH" in err.value.violation.description
    out: list[FieldViolation] = []
    assert ehv.resolve_many(codes=["BRAND", "NOPE", "BRAND"], enum_names=[], code_field="category_codes",
                            enum_field="categories", out=out) == ["BRAND"]
    assert [v.field for v in out] == ["category_codes[1]"]
    assert ehv.enum_of("BRAND") is None and bd.enum_of("FLOOD") == "FLOOD"


def test_a_city_folder_becomes_a_flat_configmap_that_loads_the_same(tmp_path: Path) -> None:
    doc = city_configmap(CITIES / "eindhoven", name="cityops-city-eindhoven")
    assert doc["kind"] == "ConfigMap" and "incidents__rules.yaml" in doc["data"]
    folder = tmp_path / "eindhoven"
    folder.mkdir()
    for key, text in doc["data"].items():  # what a ConfigMap volume puts on disk
        (folder / key).write_text(text, encoding="utf-8")
    flat = load_city("eindhoven", root=tmp_path)
    assert flat.category_codes == load_city("eindhoven", root=CITIES).category_codes
    rules = flat.file("incidents/rules.yaml")
    assert rules.name == "incidents__rules.yaml" and rules.is_file()
    assert flat.file("notifications/templates/nl/incident_reported.j2").is_file()


def test_current_city_follows_the_environment_and_reads_the_default_file_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cityops_platform.city import current_city
    from cityops_platform.city.loader import CITIES_DIR_ENV

    for name in ("binh-duong", "eindhoven"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "city.yaml").write_text(yaml.safe_dump(manifest(name)), encoding="utf-8")
    (tmp_path / "DEFAULT").write_text("eindhoven\n", encoding="utf-8")
    monkeypatch.setenv(CITIES_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(CITY_ENV, raising=False)
    assert current_city().name == "eindhoven"
    # The DEFAULT file is read once per process and folder (a hot path asks on every notice).
    reads: list[Path] = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real(self, *a, **k))
    (tmp_path / "DEFAULT").write_bytes(b"binh-duong\n")
    assert current_city().name == "eindhoven" and reads == []
    # … but the environment is read at every call.
    monkeypatch.setenv(CITY_ENV, "binh-duong")
    assert current_city().name == "binh-duong"
