"""Checks every request gets before the servicers read it: no NUL characters (Postgres text and jsonb
refuse them) and timestamps within the range ``datetime`` can hold, so no input can cause INTERNAL."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cityops_platform.errors import FieldViolation, require

_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def _walk(msg: Message, path: str, out: list[FieldViolation]) -> None:
    if msg.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        seconds = msg.seconds  # type: ignore[attr-defined]
        if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= msg.nanos < 10**9:  # type: ignore[attr-defined]
            out.append(FieldViolation(path, "thời điểm ngoài phạm vi (timestamp out of range)"))
        return
    for field, value in msg.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        repeated = field.is_repeated
        items = list(enumerate(value)) if repeated else [(None, value)]
        for index, item in items:
            where = f"{name}[{index}]" if index is not None else name
            if field.type == FieldDescriptor.TYPE_STRING and "\x00" in item:
                out.append(FieldViolation(where, "không được chứa ký tự NUL (must not contain NUL)"))
            elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:  # type: ignore[union-attr]
                _walk(item, where, out)


def check_request(request: Message) -> None:
    """``ValidationFailed`` naming every NUL-bearing string and out-of-range timestamp."""
    violations: list[FieldViolation] = []
    _walk(request, "", violations)
    require(violations)
