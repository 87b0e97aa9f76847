"""The phone redaction filter on the JSON log handler (defence in depth: services must not log
phone numbers in the first place; tests/integration/security/test_privacy.py checks that)."""

from __future__ import annotations

import json
import logging

import pytest

from cityops_platform.logging import PHONE_REDACTED, JsonFormatter, PhoneRedactor, redact_phones


@pytest.mark.parametrize("text", ["0912345678", "0912 345 678", "0912.345.678", "+84 912 345 678", "+84912345678",
                                  "84912345678", "0274 3822 123"])
def test_phone_numbers_as_people_write_them_are_redacted(text: str) -> None:
    assert redact_phones(f"gọi lại số {text}, cảm ơn") == f"gọi lại số {PHONE_REDACTED}, cảm ơn"


@pytest.mark.parametrize("text", ["latency 0.123456789", "trace 0912345678abcdef00112233", "ts 1700000000123",
                                  "port 50051", "lat 10.0912345678", "id 01234567-89ab-cdef-0123-456789abcdef"])
def test_ids_times_and_decimals_are_left_alone(text: str) -> None:
    assert redact_phones(text) == text


def _format(record: logging.LogRecord) -> dict[str, object]:
    PhoneRedactor().filter(record)
    return json.loads(JsonFormatter("test").format(record))  # type: ignore[no-any-return]


def test_message_arguments_and_extra_fields_are_redacted() -> None:
    record = logging.makeLogRecord({"name": "x", "levelno": logging.INFO, "levelname": "INFO",
                                    "msg": "caller %s", "args": ("0939271846",), "reporter": "+84939271846"})
    entry = _format(record)
    assert entry["msg"] == f"caller {PHONE_REDACTED}"
    assert entry["reporter"] == PHONE_REDACTED


def test_tracebacks_are_redacted() -> None:
    try:
        raise ValueError("bad phone 0939271846")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"name": "x", "levelno": logging.ERROR, "levelname": "ERROR",
                                        "msg": "failed", "exc_info": sys.exc_info()})
    entry = _format(record)
    assert "0939271846" not in str(entry["exc"]) and PHONE_REDACTED in str(entry["exc"])


@pytest.mark.parametrize("address", ["nguyen.van.a@binhduong.gov.vn", "truc-ban+114@example.vn", "x@ioc.hcm.vn"])
def test_email_addresses_are_redacted(address: str) -> None:
    from cityops_platform.logging import EMAIL_REDACTED

    record = logging.makeLogRecord({"name": "x", "levelno": logging.WARNING, "levelname": "WARNING",
                                    "msg": "smtp refused %s", "args": (address,), "recipient": f"<{address}>"})
    entry = _format(record)
    assert entry["msg"] == f"smtp refused {EMAIL_REDACTED}"
    assert entry["recipient"] == f"<{EMAIL_REDACTED}>"
    assert address not in json.dumps(entry, ensure_ascii=False)
