"""Subscription input validation, normalisation and role rules."""

from __future__ import annotations

import pytest

from cityops_notifications.geo import Area, Circle, Point
from cityops_notifications.subscriptions.models import SubscriptionFilter, SubscriptionIn
from cityops_notifications.subscriptions.rules import check_role, mask_address, owner_role, validate_subscription
from cityops_platform.errors import PermissionDenied, ValidationFailed


def fields(exc: ValidationFailed) -> set[str]:
    return {v.field for v in exc.violations}


def test_every_bad_field_is_named_with_its_path() -> None:
    bad = SubscriptionIn(
        channel="WEBHOOK", address="ftp://x", language="fr", secret="short",
        filter=SubscriptionFilter(event_types=("Nope",), categories=("CATEGORY_BOGUS",), min_priority=9,
                                  agencies=(42,), area=Area(circle=Circle(Point(95, 200), -1))),
    )
    with pytest.raises(ValidationFailed) as err:
        validate_subscription(bad)
    assert fields(err.value) == {
        "subscription.address", "subscription.language", "subscription.secret",
        "subscription.filter.event_types[0]", "subscription.filter.categories[0]",
        "subscription.filter.min_priority", "subscription.filter.agencies[0]",
        "subscription.filter.area.circle.center.lat", "subscription.filter.area.circle.center.lon",
        "subscription.filter.area.circle.radius_m",
    }


def test_polygon_needs_three_distinct_vertices() -> None:
    bad = SubscriptionIn(channel="SMS", address="0912345678",
                         filter=SubscriptionFilter(area=Area(polygon=(Point(10, 106), Point(10, 106)))))
    with pytest.raises(ValidationFailed) as err:
        validate_subscription(bad)
    assert fields(err.value) == {"subscription.filter.area.polygon.points"}


def test_vietnamese_phone_numbers_normalise_to_e164_and_language_defaults_to_vi() -> None:
    clean = validate_subscription(SubscriptionIn(channel="SMS", address="091 234 5678"))
    assert clean.address == "+84912345678" and clean.language == "vi"
    english = validate_subscription(SubscriptionIn(channel="SMS", address="+84 912.345.678", language="en-US"))
    assert english.language == "en" and english.address == "+84912345678"


def test_short_event_type_and_category_names_are_expanded() -> None:
    clean = validate_subscription(SubscriptionIn(
        channel="EMAIL", address="Ops@BinhDuong.GOV.VN",
        filter=SubscriptionFilter(event_types=("IncidentReported", "SensorAlert"), categories=("FLOOD",))))
    assert clean.filter.event_types == ("cityops.incidents.v1.IncidentReported", "cityops.sensors.v1.SensorAlert")
    assert clean.filter.categories == ("FLOOD",)
    assert clean.address == "Ops@binhduong.gov.vn"


def test_citizens_must_name_the_incident_they_follow_and_cannot_use_webhooks() -> None:
    with pytest.raises(PermissionDenied):
        check_role(SubscriptionIn(channel="SMS", address="+84912345678"), "citizen")
    with pytest.raises(PermissionDenied):
        check_role(SubscriptionIn(channel="WEBHOOK", address="https://x.vn/h",
                                  filter=SubscriptionFilter(incident_id="i1")), "citizen")
    check_role(SubscriptionIn(channel="SMS", address="+84912345678", filter=SubscriptionFilter(incident_id="i1")),
               "citizen")


def test_escalations_are_for_supervisors() -> None:
    escalations = SubscriptionIn(channel="EMAIL", address="a@b.vn", filter=SubscriptionFilter(
        event_types=("cityops.incidents.v1.IncidentEscalated",)))
    with pytest.raises(PermissionDenied):
        check_role(escalations, "operator")
    check_role(escalations, "supervisor")


def test_owner_role_prefers_privileged_roles_over_citizen() -> None:
    assert owner_role(frozenset({"citizen", "supervisor"})) == "supervisor"
    assert owner_role(frozenset({"citizen"})) == "citizen"


def test_addresses_are_masked_for_lists_and_events() -> None:
    assert mask_address("EMAIL", "nguyen@binhduong.gov.vn") == "n***@binhduong.gov.vn"
    assert mask_address("SMS", "+84912345678") == "*******678"
    assert mask_address("WEBHOOK", "https://cad.example.vn/hook?token=x") == "https://cad.example.vn/***"
