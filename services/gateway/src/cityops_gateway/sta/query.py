"""SensorThings query options: ``$top``, ``$skip``, ``$count``, ``$orderby`` and ``$filter``.

``$filter`` is the OData subset the view needs: comparisons (``eq ne gt ge lt le``) of
``phenomenonTime``, ``resultTime`` or ``result`` with a literal, joined by ``and`` / ``or`` /
``not`` and parentheses. Time literals are ISO 8601 with an offset (``2026-12-01T08:00:00+07:00``
or ``...Z``), unquoted as in OData. ``phenomenonTime`` compares by the start of the observation's
interval. Anything else is refused with a 400 naming the problem, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

OPS = ("eq", "ne", "gt", "ge", "lt", "le")
FIELDS = ("phenomenonTime", "resultTime", "result")
_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<time>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z@.]+)|(?P<str>'(?:[^']|'')*'))"
)
MAX_TOP = 1000


class QueryError(ValueError):
    """A query option the view cannot honour (HTTP 400)."""


@dataclass(frozen=True)
class Compare:
    """One ``$filter`` comparison: a field, an operator of OPS and the literal it is compared with."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logic:
    op: str  # "and", "or", "not"
    args: tuple[Any, ...]


Filter = Compare | Logic


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"$filter: không hiểu tại vị trí {pos} (cannot parse at {pos}): {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(kind: str, raw: str) -> Any:
    if kind == "time":
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(f"$filter: thời điểm không hợp lệ (bad date-time) {raw}") from None
        if not 1970 <= moment.year <= 9000:
            raise QueryError(f"$filter: thời điểm ngoài phạm vi 1970..9000 (date-time out of range) {raw}")
        return moment
    if kind == "num":
        return float(raw)
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    raise QueryError(f"$filter: cần một giá trị (a literal is expected), got {raw!r}")


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("$filter: kết thúc đột ngột (unexpected end)")
        self.i += 1
        return tok

    def parse(self) -> Filter:
        node = self.or_()
        if self.peek() is not None:
            raise QueryError(f"$filter: thừa {self.peek()[1]!r} (unexpected token)")  # type: ignore[index]
        return node

    def or_(self) -> Filter:
        return self._chain("or", self.and_)

    def and_(self) -> Filter:
        return self._chain("and", self.unary)

    def _chain(self, op: str, operand: Callable[[], Filter]) -> Filter:
        """``operand (op operand)*``, left-associative."""
        node = operand()
        while (tok := self.peek()) and tok == ("word", op):
            self.take()
            node = Logic(op, (node, operand()))
        return node

    def unary(self) -> Filter:
        tok = self.take()
        if tok == ("word", "not"):
            return Logic("not", (self.unary(),))
        if tok[0] == "lp":
            node = self.or_()
            if self.take()[0] != "rp":
                raise QueryError("$filter: thiếu ')' (missing ')')")
            return node
        if tok[0] != "word" or tok[1] not in FIELDS:
            raise QueryError(f"$filter: chỉ lọc được {', '.join(FIELDS)} (only these can be filtered): {tok[1]!r}")
        op = self.take()
        if op[0] != "word" or op[1] not in OPS:
            raise QueryError(f"$filter: phép so sánh không hỗ trợ (unsupported operator) {op[1]!r}")
        kind, raw = self.take()
        value = _literal(kind, raw)
        if tok[1] == "result" and not isinstance(value, float):
            raise QueryError("$filter: result so với một số (result compares with a number)")
        if tok[1] != "result" and not isinstance(value, datetime):
            raise QueryError(f"$filter: {tok[1]} so với thời điểm ISO 8601 (compares with an ISO 8601 date-time)")
        if isinstance(value, datetime) and value.tzinfo is None:
            raise QueryError("$filter: thời điểm phải có múi giờ (a date-time needs an offset or Z)")
        return Compare(tok[1], op[1], value)


def parse_filter(text: str) -> Filter:
    return _Parser(_tokens(text)).parse()


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


def matches(node: Filter, values: Mapping[str, Any]) -> bool:
    """Evaluate a filter against one observation's ``phenomenonTime``/``resultTime``/``result``."""
    if isinstance(node, Compare):
        return _CMP[node.op](values[node.field], node.value)
    if node.op == "not":
        return not matches(node.args[0], values)
    results = (matches(a, values) for a in node.args)
    return all(results) if node.op == "and" else any(results)


def time_bounds(node: Filter | None) -> tuple[datetime | None, datetime | None]:
    """A [start, end] range of phenomenonTime outside which nothing can match (None = open);
    used to ask the sensors service only for the windows that may match."""
    if node is None:
        return None, None
    if isinstance(node, Compare):
        if node.field == "result" or node.op == "ne":
            return None, None
        shift = timedelta(minutes=1) if node.field == "resultTime" else timedelta(0)  # result = start + 60 s
        value = node.value - shift
        return {"eq": (value, value), "gt": (value, None), "ge": (value, None),
                "lt": (None, value), "le": (None, value)}[node.op]
    if node.op == "not":
        return None, None
    bounds = [time_bounds(a) for a in node.args]
    starts, ends = [b[0] for b in bounds], [b[1] for b in bounds]
    if node.op == "and":
        start = max((s for s in starts if s is not None), default=None)
        end = min((e for e in ends if e is not None), default=None)
        return start, end
    start = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    return start, end


@dataclass(frozen=True)
class Options:
    top: int
    skip: int
    count: bool
    orderby: list[tuple[str, bool]]  # (property, descending)
    filter: Filter | None


def parse_options(params: Mapping[str, str], *, orderable: tuple[str, ...], filterable: bool,
                  default_top: int = 100) -> Options:
    """The query options of a collection request; unknown ``$`` options are a 400."""
    known = {"$top", "$skip", "$count", "$orderby", "$filter", "$select", "$expand", "$resultFormat"}
    for key in params:
        if key.startswith("$") and key not in known:
            raise QueryError(f"tùy chọn không hỗ trợ (unsupported option) {key}")
    for key in ("$select", "$expand", "$resultFormat"):
        if params.get(key):
            raise QueryError(f"{key} chưa được hỗ trợ trong chế độ xem này (not supported by this view)")

    def integer(name: str, default: int, high: int) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit():
            raise QueryError(f"{name}: phải là số nguyên không âm (must be a non-negative integer)")
        value = int(raw)
        if value > high:
            raise QueryError(f"{name}: tối đa {high} (at most {high})")
        return value

    count_raw = params.get("$count", "false").lower()
    if count_raw not in ("true", "false"):
        raise QueryError("$count: true hoặc false (true or false)")
    orderby: list[tuple[str, bool]] = []
    for part in (p.strip() for p in params.get("$orderby", "").split(",") if p.strip()):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if name not in orderable or direction not in ("asc", "desc"):
            raise QueryError(f"$orderby: chỉ hỗ trợ {', '.join(orderable)} asc|desc (supported): {part!r}")
        orderby.append((name, direction == "desc"))
    raw_filter = params.get("$filter", "").strip()
    if raw_filter and not filterable:
        raise QueryError("$filter: chỉ hỗ trợ trên Observations (only on Observations)")
    return Options(
        top=integer("$top", default_top, MAX_TOP), skip=integer("$skip", 0, 10_000_000),
        count=count_raw == "true", orderby=orderby, filter=parse_filter(raw_filter) if raw_filter else None,
    )
