"""Hypothesis strategies built from protobuf descriptors: any request message of any RPC.

Every field may be present or missing; values include the hostile ones (NaN and infinities, 100k
character strings, NUL bytes, unknown enum numbers, out-of-range timestamps), mixed with plausible
ones (coordinates inside the city, UUIDs, small page sizes) so that the rules behind the first
validation layer are reached too.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

F = FieldDescriptor
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

HOSTILE_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "'; DROP TABLE incidents; --", "../../etc/passwd", "%s%n", "\u202e",
    "Đường Đại lộ Bình Dương", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚑", "\ufeff", "NaN", "-1", "9" * 40, "<script>alert(1)</script>",
])
HUGE_TEXT = st.integers(10_000, 100_000).map(lambda n: "x" * n)
UUIDS = st.uuids().map(str)


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [v for v in (0, 1, -1, 2, 10, 100, 1000, 1_700_000_000, lo, hi, lo + 1, hi - 1) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(max(lo, -5), min(hi, 500)), st.integers(lo, hi))


def _floats(width: int) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e308 if width == 64 else 3e38]),
        st.floats(10.8, 11.3, width=width),  # inside Binh Duong: reaches the rules past the bounds check
        st.floats(-200, 200, width=width),
        st.floats(allow_nan=True, allow_infinity=True, width=width),
    )


_HINTS: dict[str, st.SearchStrategy[Any]] = {
    "lat": st.one_of(st.floats(10.8, 11.3), _floats(64)),
    "lon": st.one_of(st.floats(106.4, 106.9), _floats(64)),
    "page_size": st.one_of(st.integers(-5, 1000), _ints(*INT32)),
}


def _text(field: FieldDescriptor) -> st.SearchStrategy[str]:
    plausible: list[st.SearchStrategy[str]] = [st.text(max_size=40), HOSTILE_TEXT, HUGE_TEXT]
    if field.name.endswith("id") or field.name.endswith("key") or field.name.endswith("ids"):
        plausible.append(UUIDS)
    return st.one_of(*plausible)


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Values for one non-message field (an element, for repeated fields)."""
    if field.name in _HINTS and field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT, F.TYPE_INT32, F.TYPE_INT64):
        return _HINTS[field.name]
    t = field.type
    if t == F.TYPE_DOUBLE:
        return _floats(64)
    if t == F.TYPE_FLOAT:
        return _floats(32)
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return _ints(*INT32)
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return _ints(*INT64)
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return _ints(0, 2**32 - 1)
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return _ints(0, 2**64 - 1)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_STRING:
        return _text(field)
    if t == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        # Unknown numbers are legal on the wire (open enums): the service must refuse them cleanly.
        return st.one_of(st.sampled_from(known), st.integers(-3, 200), _ints(*INT32))
    raise TypeError(f"unsupported field type {t} for {field.full_name}")


def _timestamp() -> st.SearchStrategy[tuple[int, int]]:
    valid = st.tuples(st.integers(0, 4_102_444_800), st.integers(0, 999_999_999))
    hostile = st.tuples(_ints(*INT64), _ints(*INT32))
    return st.one_of(valid, hostile)


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int, max_depth: int) -> Message:
    msg: Message = message_factory.GetMessageClass(descriptor)()
    if descriptor.full_name == "google.protobuf.Timestamp":
        seconds, nanos = draw(_timestamp())
        msg.seconds, msg.nanos = seconds, nanos  # type: ignore[attr-defined]
        return msg
    chosen = {
        oneof.name: draw(st.sampled_from([None, *[f.name for f in oneof.fields]]))
        for oneof in descriptor.oneofs
        if not oneof.name.startswith("_")  # proto3 `optional` synthetic oneofs: decided per field
    }
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in chosen:
            if chosen[oneof.name] != field.name:
                continue
        elif not draw(st.booleans()):
            continue  # a missing field
        _fill(draw, msg, field, depth, max_depth)
    return msg


def _fill(draw: st.DrawFn, msg: Message, field: FieldDescriptor, depth: int, max_depth: int) -> None:
    name = field.name
    is_repeated = field.is_repeated
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_f, value_f = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        target = getattr(msg, name)
        for _ in range(draw(st.integers(0, 3))):
            key = draw(scalar(key_f))
            if value_f.message_type is not None:
                if depth < max_depth:
                    target[key].CopyFrom(draw(_message(value_f.message_type, depth + 1, max_depth)))
            else:
                target[key] = draw(scalar(value_f))
        return
    if field.message_type is not None:
        if depth >= max_depth:
            return
        sub = _message(field.message_type, depth + 1, max_depth)
        if is_repeated:
            for item in draw(st.lists(sub, max_size=3)):
                getattr(msg, name).add().CopyFrom(item)
        else:
            getattr(msg, name).CopyFrom(draw(sub))
        return
    if is_repeated:
        getattr(msg, name).extend(draw(st.lists(scalar(field), max_size=4)))
    else:
        setattr(msg, name, draw(scalar(field)))


def messages(descriptor: Descriptor, *, max_depth: int = 3) -> st.SearchStrategy[Message]:
    """Any message of this type, hostile or plausible, nested up to ``max_depth`` levels."""
    return _message(descriptor, 0, max_depth)


def requests(method: MethodDescriptor) -> st.SearchStrategy[Any]:
    """The request of ``method``: one message, or for client-streaming RPCs a list of 0-3 of them."""
    one = messages(method.input_type)
    return st.lists(one, max_size=3) if method.client_streaming else one
