"""Request checks that keep odd input from reaching Postgres as INTERNAL errors."""

from __future__ import annotations

import pytest

from cityops.notifications.v1 import notifications_pb2 as pb
from cityops_notifications.request_checks import check_request
from cityops_platform.errors import ValidationFailed


def test_nul_characters_and_out_of_range_timestamps_are_named() -> None:
    info = pb.CapInfo(language="vi-VN", headline="Ngập\x00", categories=[pb.CAP_CATEGORY_MET])
    info.expires.seconds = 10**13
    request = pb.DraftAlertRequest(alert=pb.CapAlert(infos=[info], note="ok"))
    with pytest.raises(ValidationFailed) as err:
        check_request(request)
    assert {v.field for v in err.value.violations} == {"alert.infos[0].headline", "alert.infos[0].expires"}


def test_ordinary_requests_pass() -> None:
    check_request(pb.CreateSubscriptionRequest(subscription=pb.Subscription(
        address="Đường số 1", filter=pb.SubscriptionFilter(districts=["Dĩ An"]))))
