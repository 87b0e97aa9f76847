"""The console's strings are data: one JSON file per language (``static/i18n/<lang>.json``), which a
city folder may extend (``console/i18n/<lang>.json``). Every shipped language has exactly the keys of
Vietnamese (the default) and no empty text; every language of every city has strings; the page and
the scripts ask only for keys that exist."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pytest

from cityops_gateway.city.routes import CONSOLE_STRINGS_DIR, console_strings
from cityops_gateway.settings import STATIC_DIR
from cityops_platform.city import available_cities, cities_dir, load_city

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LANGUAGE_FILES = sorted(CONSOLE_STRINGS_DIR.glob("*.json"))
REFERENCE = json.loads((CONSOLE_STRINGS_DIR / "vi.json").read_text(encoding="utf-8"))
CITY_VOCABULARY = ("capability.", "runcard.")


def test_the_shipped_languages_include_dutch() -> None:
    assert {p.stem for p in LANGUAGE_FILES} >= {"vi", "en", "nl"}


@pytest.mark.parametrize("path", LANGUAGE_FILES, ids=lambda p: p.stem)
def test_every_language_file_has_exactly_the_keys_of_vietnamese_and_no_empty_text(path: Path) -> None:
    strings = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(strings, dict)
    assert set(strings) - set(REFERENCE) == set(), "keys Vietnamese does not have"
    assert set(REFERENCE) - set(strings) == set(), "keys missing"
    empty = [k for k, v in strings.items() if not isinstance(v, str) or not v.strip()]
    assert empty == []


def test_dutch_is_translated_not_copied() -> None:
    nl = json.loads((CONSOLE_STRINGS_DIR / "nl.json").read_text(encoding="utf-8"))
    en = json.loads((CONSOLE_STRINGS_DIR / "en.json").read_text(encoding="utf-8"))
    assert nl["queue.title"] == "Incidentenwachtrij"
    assert nl["enum.status.NEW"] == "Nieuw"
    same = [k for k in REFERENCE if nl[k] in (REFERENCE[k], en[k])]
    # Only words the languages share (Live, Status, ETA, km, p90, Open311…) may equal another language.
    assert len(same) < len(REFERENCE) // 8, same


@pytest.mark.parametrize("name", available_cities(), ids=str)
def test_every_language_of_every_city_has_console_strings(name: str) -> None:
    city = load_city(name, root=cities_dir())
    for lang in city.languages:
        strings = console_strings(city, lang)
        assert strings, f"{name}: no console strings for {lang}"
        # Besides the shipped keys a city names its own vocabulary (its dispatch rules' capabilities
        # and run cards).
        assert {k for k in strings if not k.startswith(CITY_VOCABULARY)} <= set(REFERENCE)
        own = city.file(f"console/i18n/{lang}.json")
        if not (CONSOLE_STRINGS_DIR / f"{lang}.json").is_file():
            assert own.is_file()
            assert set(strings) >= set(REFERENCE), f"{name}: {lang} needs every key"


def test_a_city_file_overrides_and_a_missing_language_is_none(tmp_path: Path) -> None:
    shutil.copytree(cities_dir() / "eindhoven", tmp_path / "eindhoven")
    own = tmp_path / "eindhoven" / "console" / "i18n"
    own.mkdir(parents=True, exist_ok=True)  # the city's own strings may already be there
    (own / "nl.json").write_text(json.dumps({"queue.title": "Meldingen", "queue.empty": "  "}), encoding="utf-8")
    city = load_city("eindhoven", root=tmp_path)
    strings = console_strings(city, "nl")
    assert strings is not None
    assert strings["queue.title"] == "Meldingen"  # the city's word wins
    assert strings["queue.empty"] == "Geen openstaande incidenten"  # an empty override is ignored
    assert console_strings(city, "xx") is None
    assert console_strings(city, "../vi") is None


def _keys_used() -> set[str]:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder|-aria)?="([^"]+)"', page))
    for script in (STATIC_DIR / "js").glob("*.js"):
        used |= set(re.findall(r'\bt\("([A-Za-z0-9_.]+)"\)', script.read_text(encoding="utf-8")))
    return used


def test_the_page_and_scripts_ask_only_for_keys_that_exist() -> None:
    used = _keys_used()
    assert len(used) > 100
    assert used - set(REFERENCE) == set()


def test_no_console_string_table_is_left_in_the_scripts() -> None:
    source = (STATIC_DIR / "js" / "i18n.js").read_text(encoding="utf-8")
    assert "Hàng đợi sự cố" not in source and "Incident queue" not in source


def test_strings_are_served_per_language_without_login(client: TestClient) -> None:
    vi = client.get("/console/i18n/vi.json")
    assert vi.status_code == 200
    assert vi.json()["queue.title"] == "Hàng đợi sự cố"
    missing = client.get("/console/i18n/xx.json")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_admin_units_list_the_reference_citys_wards(client: TestClient) -> None:
    response = client.get("/api/admin-units")
    assert response.status_code == 200
    units = response.json()["admin_units"]
    assert len(units) == 36
    assert {u["kind"] for u in units} == {"phường", "xã"}
    assert all(u["code"] and u["name"] and u["name_en"] for u in units)


@pytest.mark.parametrize("name", available_cities(), ids=str)
def test_every_capability_and_run_card_of_a_city_is_named_in_each_of_its_languages(name: str) -> None:
    """The dispatcher's run card and recommendations show the city's words, never a rule's code."""
    import yaml

    city = load_city(name, root=cities_dir())
    rules = yaml.safe_load(city.file("dispatch/rules.yaml").read_text(encoding="utf-8"))
    wanted = {f"runcard.{card['name']}" for card in rules.get("run_cards", [])}
    wanted |= {f"capability.{u['capability']}" for card in rules.get("run_cards", []) for u in card["units"]}
    assert wanted
    for lang in city.languages:
        strings = console_strings(city, lang) or {}
        assert wanted - set(strings) == set(), (name, lang)
