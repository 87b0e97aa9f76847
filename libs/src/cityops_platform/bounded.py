"""A mapping that keeps at most a given number of entries, the least recently used dropped first.

Written once for every in-process memo a long-running process keeps on data from outside (verified
tokens, login failures and rate buckets per client, HTTP clients per webhook target, rendered notices,
planned incident ids): none of them may grow with the traffic, and each of them wants the same rules.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class LruMap(Generic[K, V]):
    """At most ``most`` entries. ``get`` and ``put`` make an entry the newest; ``put`` past the bound
    drops the oldest entries and returns their values (for a caller that must close them); ``peek``
    reads without touching the order."""

    def __init__(self, most: int) -> None:
        if most < 1:
            raise ValueError(f"an LruMap keeps at least one entry, not {most}")
        self._most = most
        self._entries: OrderedDict[K, V] = OrderedDict()

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        if key not in self._entries:
            return default
        self._entries.move_to_end(key)
        return self._entries[key]

    def peek(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> list[V]:
        self._entries[key] = value
        self._entries.move_to_end(key)
        dropped: list[V] = []
        while len(self._entries) > self._most:
            dropped.append(self._entries.popitem(last=False)[1])
        return dropped

    @overload
    def pop(self, key: K) -> V | None: ...
    @overload
    def pop(self, key: K, default: D) -> V | D: ...
    def pop(self, key: K, default: object = None) -> object:
        return self._entries.pop(key, default)

    def take_all(self) -> list[V]:
        """Every value, oldest first, leaving the map empty."""
        values = list(self._entries.values())
        self._entries.clear()
        return values

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)
