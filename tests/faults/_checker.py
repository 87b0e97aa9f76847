"""A Jepsen-style ledger and checker for acknowledged writes.

During a scenario the load generator records every attempt and every acknowledgement
(``Ledger.ack``) by a stable id (idempotency key, alert id, reading id). After the fault has
healed the test reads everything back (gRPC, Postgres, Kafka) as a multiset of ids and
``Ledger.check`` classifies each:

- **lost**: acknowledged, but not found (the one thing a city's emergency system must never do);
- **duplicated**: found more than once where the guarantee is exactly one (incident per key,
  report per alert, DLQ record per poison input);
- **unexpected**: found but never acknowledged nor attempted (a write from nowhere);
- **indeterminate**: attempted, not acknowledged, found (allowed: the client did not learn the
  outcome, e.g. the RPC timed out after the commit), reported for information only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc


@dataclass
class Verdict:
    what: str
    acknowledged: int
    found: int
    lost: list[str]
    duplicated: list[str]
    unexpected: list[str]
    indeterminate: int

    def assert_clean(self) -> None:
        """0 lost, 0 duplicated, 0 unexpected; the message names a few offenders."""
        problems = []
        for name in ("lost", "duplicated", "unexpected"):
            ids: list[str] = getattr(self, name)
            if ids:
                problems.append(f"{len(ids)} {name} (e.g. {ids[:5]})")
        assert not problems, f"{self.what}: " + "; ".join(problems)


@dataclass
class Ledger:
    """What the clients tried and what they were told, by id and by status code."""

    what: str
    attempted: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    codes: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    started: float = field(default_factory=time.monotonic)

    def attempt(self, item: str) -> None:
        self.calls += 1
        self.attempted.add(item)

    def ack(self, item: str) -> None:
        self.codes["OK"] += 1
        self.acked.add(item)

    def fail(self, code: grpc.StatusCode | str) -> None:
        self.codes[code.name if isinstance(code, grpc.StatusCode) else code] += 1

    def check(self, found: Iterable[str], *, exactly_once: bool = True) -> Verdict:
        seen = Counter(found)
        lost = sorted(i for i in self.acked if seen[i] == 0)
        dup = sorted(i for i, n in seen.items() if n > 1) if exactly_once else []
        unexpected = sorted(i for i in seen if i not in self.acked and i not in self.attempted)
        indeterminate = sum(1 for i in seen if i not in self.acked and i in self.attempted)
        return Verdict(self.what, len(self.acked), sum(seen.values()), lost, dup, unexpected, indeterminate)


FORBIDDEN_CODES = ("INTERNAL", "UNKNOWN", "DATA_LOSS")


def forbidden(ledger: Ledger) -> dict[str, int]:
    """Status codes that must never reach a client, whatever the fault."""
    return {code: n for code, n in ledger.codes.items() if code in FORBIDDEN_CODES}


def client_key(stored: str) -> str:
    """The idempotency key as the client sent it: incidents stores it scoped to the caller
    (``<subject>\x1f<key>``, cityops_platform.db.request_keys.scoped_key)."""
    return stored.rsplit("\x1f", 1)[-1]
