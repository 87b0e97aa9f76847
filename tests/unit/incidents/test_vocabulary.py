"""One vocabulary: the Open311 catalogue's subcategory codes are the codes of the incidents rules
(triage, routing, sensors). Reads both files as they ship."""

from __future__ import annotations

from pathlib import Path

import yaml

from cityops_incidents.incidents.triage import route, triage
from cityops_incidents.rules import load_rules
from cityops_incidents.settings import DEFAULT_RULES_FILE
from cityops_platform.city import current_city

REPO = Path(__file__).resolve().parents[3]
CATALOGUE_FILE = current_city().file("gateway/open311_services.yaml")
RULES = load_rules()
RAW = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
CATALOGUE = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))["services"]


def test_every_catalogue_subcategory_code_exists_in_the_rules() -> None:
    codes = {str(s["subcategory"]) for s in CATALOGUE}
    assert codes, "empty catalogue"
    missing = sorted(codes - set(RAW["routing"]["subcategories"]))
    assert missing == [], f"Open311 codes unknown to rules.yaml routing.subcategories: {missing}"


def test_every_catalogue_category_has_a_base_priority_and_an_agency() -> None:
    for service in CATALOGUE:
        assert service["category"] in RAW["triage"]["base"], service["code"]
        assert service["category"] in RAW["routing"]["categories"], service["code"]


def test_triage_and_routing_keys_are_all_known_codes() -> None:
    known = set(RAW["routing"]["subcategories"])
    for section in ("subcategories", "subcategory_base"):
        unknown = sorted(set(RAW["triage"].get(section) or {}) - known)
        assert unknown == [], f"triage.{section} uses codes outside the vocabulary: {unknown}"
    sensor_codes = set(RAW["sensors"]["subcategories"].values())
    assert sorted(sensor_codes - known) == []


def test_aliases_are_old_codes_only() -> None:
    aliases = RAW["routing"]["aliases"]
    catalogue = {str(s["subcategory"]) for s in CATALOGUE}
    assert set(aliases) & catalogue == set()
    assert {"o_ga", "den_hong", "cay_do"} <= set(aliases)
    assert all(new in RAW["routing"]["subcategories"] for new in aliases.values())


def test_each_catalogue_service_routes_to_the_agency_its_code_names() -> None:
    for service in CATALOGUE:
        agency = RAW["routing"]["subcategories"][service["subcategory"]]
        assert route(RULES, service["category"], service["subcategory"]) == agency, service["code"]


def test_street_light_from_a_citizen_routes_to_utilities() -> None:
    [lights] = [s for s in CATALOGUE if s["code"] == "den-duong-hong"]
    t = triage(RULES, category=lights["category"], subcategory=lights["subcategory"], source="OPEN311",
               description="Đèn đường hỏng")
    assert t.agency == "UTILITIES"


EIDO_FILE = current_city().file("dispatch/eido.yaml")


def test_eido_subcategory_keys_are_codes_of_the_one_vocabulary() -> None:
    """dispatch's EIDO type map speaks the same subcategory codes as triage, routing and Open311."""
    eido = yaml.safe_load(EIDO_FILE.read_text(encoding="utf-8"))
    known = set(RAW["routing"]["subcategories"])
    used = {str(sub) for spec in eido["incident_types"].values() for sub in (spec.get("subcategories") or {})}
    assert used, "eido.yaml maps no subcategory"
    assert sorted(used - known) == [], f"eido.yaml subcategories outside the vocabulary: {sorted(used - known)}"


def test_every_catalogue_service_exports_to_its_own_eido_type_or_its_category_type() -> None:
    eido = yaml.safe_load(EIDO_FILE.read_text(encoding="utf-8"))["incident_types"]
    for service in CATALOGUE:
        assert service["category"] in eido, f"{service['code']}: category {service['category']} has no EIDO type"


def test_every_incident_status_has_an_eido_status() -> None:
    from cityops.incidents.v1 import incidents_pb2

    eido = yaml.safe_load(EIDO_FILE.read_text(encoding="utf-8"))["incident_statuses"]
    statuses = {n.removeprefix("STATUS_") for n in incidents_pb2.Status.DESCRIPTOR.values_by_name} - {"UNSPECIFIED"}
    assert sorted(statuses - set(eido)) == []
