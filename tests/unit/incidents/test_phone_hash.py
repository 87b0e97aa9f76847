"""The caller lookup key: Vietnamese numbers normalised to the national form, then HMAC-SHA256
with the service's key; the key refused outside local unless it is real."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cityops_incidents.settings import LOCAL_PHONE_HASH_KEY, IncidentsSettings, phone_hash_key, previous_phone_hash_key
from cityops_incidents.text import national_phone, phone_hash
from cityops_platform.settings import ConfigurationError

KEY = b"k" * 32


@pytest.mark.parametrize("typed", [
    "0912345678", "0912 345 678", "0912.345.678", "091-234-5678", "(091) 234 5678",
    "+84912345678", "+84 912 345 678", "84912345678", "84 912.345.678", "0084 912 345 678", "912345678",
])
def test_every_usual_form_is_the_same_national_number(typed: str) -> None:
    assert national_phone(typed) == "0912345678"
    assert phone_hash(KEY, typed) == phone_hash(KEY, "0912345678")


def test_landlines_and_short_numbers_keep_their_digits() -> None:
    assert national_phone("+84 28 3812 3456") == "02838123456"
    assert national_phone("028.3812.3456") == "02838123456"
    assert national_phone("114") == "114"  # a short code is not turned into a national number
    assert national_phone("") == "" and phone_hash(KEY, "") == ""


def test_the_hash_is_keyed() -> None:
    expected = hmac.new(KEY, b"0912345678", hashlib.sha256).hexdigest()
    assert phone_hash(KEY, "+84 912 345 678") == expected
    assert phone_hash(KEY, "0912345678") != hashlib.sha256(b"0912345678").hexdigest()
    assert phone_hash(b"j" * 32, "0912345678") != expected
    assert phone_hash(KEY, "0912345679") != expected


def test_local_gets_the_public_key_and_other_environments_refuse_it() -> None:
    assert phone_hash_key(IncidentsSettings(phone_hash_key=""), is_local=True) == LOCAL_PHONE_HASH_KEY.encode()
    for bad in ("", LOCAL_PHONE_HASH_KEY, "short-key"):
        with pytest.raises(ConfigurationError, match="CITYOPS_INCIDENTS_PHONE_HASH_KEY"):
            phone_hash_key(IncidentsSettings(phone_hash_key=bad), is_local=False)
    real = "r" * 40
    assert phone_hash_key(IncidentsSettings(phone_hash_key=real), is_local=False) == real.encode()


def test_a_previous_key_is_optional_and_checked_like_the_current_one() -> None:
    real, old = "r" * 40, "o" * 40
    assert previous_phone_hash_key(IncidentsSettings(phone_hash_key=real), is_local=False) is None
    assert previous_phone_hash_key(IncidentsSettings(phone_hash_key=real, phone_hash_key_previous=old),
                                   is_local=False) == old.encode()
    # The same key twice is no rotation: nothing to look up twice.
    assert previous_phone_hash_key(IncidentsSettings(phone_hash_key=real, phone_hash_key_previous=real),
                                   is_local=False) is None
    with pytest.raises(ConfigurationError, match="CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS quá ngắn"):
        previous_phone_hash_key(IncidentsSettings(phone_hash_key=real, phone_hash_key_previous="old"),
                                is_local=False)
    # Local: the public local key may be the previous one (a local database rotated to a real key).
    assert previous_phone_hash_key(IncidentsSettings(phone_hash_key=real, phone_hash_key_previous=LOCAL_PHONE_HASH_KEY),
                                   is_local=True) == LOCAL_PHONE_HASH_KEY.encode()


def test_request_keys_expire_after_the_retention_which_is_at_least_a_day() -> None:
    from datetime import UTC, datetime, timedelta

    from pydantic import ValidationError

    from cityops_platform.db.request_keys import expiry_cutoff

    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    assert IncidentsSettings().request_key_retention_days == 7
    assert expiry_cutoff(now, 7) == now - timedelta(days=7)
    assert expiry_cutoff(now, 1.5) == now - timedelta(hours=36)
    with pytest.raises(ValueError):
        expiry_cutoff(now, 0)
    for bad in ("0.5", "0", "-3"):  # a value meant in hours would empty the table under an offline console
        with pytest.raises(ValidationError):
            IncidentsSettings(request_key_retention_days=bad)
    with pytest.raises(ValidationError):
        IncidentsSettings(request_key_sweep_batch=0)


def test_a_key_fingerprint_tells_keys_apart_without_showing_them_and_the_status_table_says_what_is_at_risk() -> None:
    from cityops_incidents.incidents.report_store import RAW
    from cityops_incidents.phone_keys import render
    from cityops_incidents.text import phone_key_id

    current, previous = phone_key_id(KEY), phone_key_id(b"j" * 32)
    assert current != previous and len(current) == 16 and int(current, 16) >= 0
    assert phone_key_id(KEY) == current and "k" * 8 not in current
    table = render({current: 5, previous: 3, "": 2, "0" * 16: 1, RAW: 4}, current=current, previous=previous)
    rows = {line.split("  ")[0].strip(): int(line.split()[-1]) for line in table.splitlines()
            if line and line.split()[-1].isdigit()}
    assert rows[f"khóa hiện tại (current key) {current}"] == 5
    assert rows[f"khóa trước (previous key) {previous}"] == 3
    assert rows["tổng (total)"] == 15
    assert "unfindable by phone" in table and "3 báo cáo" in table
    assert "không đặt / not set" in render({RAW: 0}, current=current, previous=None)
