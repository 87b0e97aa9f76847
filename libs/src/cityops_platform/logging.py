"""JSON logs to stdout, one object per line, carrying the current trace id."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

# Vietnamese phone numbers as people write them: 0912345678, 0912 345 678, 0912.345.678,
# +84 912 345 678, 84912345678. Not inside words, hex ids or decimals ("0.123456789").
_PHONE = re.compile(r"(?<![\w.+])(?:\+84[\s.-]?|84|0)\d{2,3}(?:[\s.-]?\d){6,7}(?!\w)")
PHONE_REDACTED = "[đã ẩn SĐT/phone redacted]"
# E-mail addresses (subscribers, SMTP recipients): local part @ a dotted domain, IDN letters included.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
EMAIL_REDACTED = "[đã ẩn email/email redacted]"


def redact_phones(text: str) -> str:
    """``text`` with every phone-number-like run and every e-mail address replaced by a marker."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_REDACTED, text)
    return _PHONE.sub(PHONE_REDACTED, text)


class PhoneRedactor(logging.Filter):
    """Defence in depth: services never log reporters' phone numbers or e-mail addresses (tests
    check it), and should one slip into a message, an extra field or a traceback, it is masked
    before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_phones(message)
        if clean != message:
            record.msg, record.args = clean, None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and not key.startswith("_") and isinstance(value, str):
                cleaned = redact_phones(value)
                if cleaned != value:
                    setattr(record, key, cleaned)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_phones(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with the service name and the active trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, grpc, faust, aiokafka) to JSON lines on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(PhoneRedactor())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Kafka client chatter at INFO drowns the signal; its warnings still come through.
    for noisy in ("aiokafka", "kafka", "faust.transport", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
