"""Which notices reach which subscriptions (subscriptions.rules.matches)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops_notifications.geo import Area, Circle, Point
from cityops_notifications.notices.models import INCIDENT_ESCALATED, Notice
from cityops_notifications.subscriptions.models import Subscription, SubscriptionFilter
from cityops_notifications.subscriptions.rules import matches

REPORTED = "cityops.incidents.v1.IncidentReported"
TDM = Point(10.9804, 106.6519)


def sub(role: str = "operator", owner: str = "op-1", **filter_: object) -> Subscription:
    return Subscription(id="s1", owner=owner, owner_role=role, channel="SMS", address="+84912345678",
                        language="vi", description="", filter=SubscriptionFilter(**filter_),  # type: ignore[arg-type]
                        active=True, created_at=datetime.now(UTC), has_secret=False)


def notice(**fields: object) -> Notice:
    base: dict[str, object] = {
        "event_id": "e1", "event_type": REPORTED, "source_topic": "t", "occurred_at": datetime.now(UTC),
        "template": "incident_reported", "incident_id": "i1", "category": "CATEGORY_FLOOD", "priority": 2,
        "location": TDM, "agencies": frozenset({4}), "district": "Phường Thủ Dầu Một", "ward_code": "25747",
    }
    base.update(fields)
    return Notice(**base)  # type: ignore[arg-type]


def test_empty_filter_matches_every_non_escalation_event() -> None:
    assert matches(sub(), notice())


def test_min_priority_two_accepts_p1_and_p2_but_not_p3() -> None:
    s = sub(min_priority=2)
    assert matches(s, notice(priority=1)) and matches(s, notice(priority=2))
    assert not matches(s, notice(priority=3)) and not matches(s, notice(priority=0))


def test_event_type_and_category_filters_must_both_hold() -> None:
    s = sub(event_types=(REPORTED,), categories=("CATEGORY_FIRE",))
    assert not matches(s, notice())
    assert matches(s, notice(category="CATEGORY_FIRE"))


def test_circle_area_contains_a_point_within_its_radius_only() -> None:
    s = sub(area=Area(circle=Circle(TDM, 1000)))
    assert matches(s, notice(location=Point(10.985, 106.652)))  # ~500 m north
    assert not matches(s, notice(location=Point(11.0, 106.652)))  # ~2 km north
    assert not matches(s, notice(location=None))


def test_polygon_area_matches_points_inside_the_ring() -> None:
    ring = (Point(10.97, 106.64), Point(10.97, 106.66), Point(10.99, 106.66), Point(10.99, 106.64))
    s = sub(area=Area(polygon=ring))
    assert matches(s, notice(location=TDM))
    assert not matches(s, notice(location=Point(10.95, 106.65)))


def test_alert_area_overlapping_the_subscription_area_matches() -> None:
    alert_area = Area(polygon=(Point(10.97, 106.64), Point(10.97, 106.66), Point(10.99, 106.66)))
    s = sub(area=Area(circle=Circle(Point(10.98, 106.655), 800)))
    assert matches(s, notice(location=None, area=alert_area))
    far = sub(area=Area(circle=Circle(Point(11.3, 106.6), 3000)))
    assert not matches(far, notice(location=None, area=alert_area))


def test_agency_and_ward_filters() -> None:
    assert matches(sub(agencies=(4, 2)), notice())
    assert not matches(sub(agencies=(1,)), notice())
    assert matches(sub(ward_codes=("25747", "25966")), notice())
    assert not matches(sub(ward_codes=("25966",)), notice())
    assert not matches(sub(ward_codes=("25966",)), notice(ward_code=""))  # located nowhere: not in the ward


def test_a_deprecated_district_filter_becomes_the_units_it_means() -> None:
    from cityops_notifications.subscriptions.models import SubscriptionIn
    from cityops_notifications.subscriptions.rules import validate_subscription
    from cityops_platform.errors import ValidationFailed

    def made(**f: object) -> SubscriptionFilter:
        return validate_subscription(SubscriptionIn(channel="SMS", address="+84912345678",
                                                    filter=SubscriptionFilter(**f))).filter  # type: ignore[arg-type]

    thuan_an = made(districts=("Thuận An",))  # the former district: its five units
    assert len(thuan_an.ward_codes) == 5 and "25966" in thuan_an.ward_codes and thuan_an.districts == ("Thuận An",)
    assert made(districts=("Phường Thủ Dầu Một",)).ward_codes == ("25747",)
    with pytest.raises(ValidationFailed) as err:
        made(ward_codes=("99999",), districts=("Quận 1",))
    assert {v.field for v in err.value.violations} == {
        "subscription.filter.ward_codes[0]", "subscription.filter.districts[0]"}


def test_only_supervisors_and_admins_receive_escalations() -> None:
    escalation = notice(event_type=INCIDENT_ESCALATED)
    assert not matches(sub(role="operator"), escalation)
    assert matches(sub(role="supervisor"), escalation)
    assert matches(sub(role="admin"), escalation)


def test_citizen_receives_updates_of_their_own_report_only() -> None:
    s = sub(role="citizen", owner="cit-1", incident_id="i1")
    assert matches(s, notice(), follows=True)
    assert not matches(s, notice(), follows=False)
    assert not matches(s, notice(incident_id="i2"), follows=True)


def test_inactive_subscription_matches_nothing() -> None:
    s = sub()
    inactive = Subscription(**{**s.__dict__, "active": False})
    assert not matches(inactive, notice())
