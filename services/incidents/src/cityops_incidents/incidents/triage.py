"""Triage: priority P1-P4, EIDO priority and agency from the rules in rules.yaml.

Pure functions of their inputs: the same report always gets the same answer, so the rules can be
tested without a database and replayed after a config change (``cityops rules replay``).
Descriptions are read as Vietnamese with diacritics (see cityops_incidents.phrases and
triage_rules: phrases, negations, fixed expressions, contexts, compiled once at load).
"""

from __future__ import annotations

from dataclasses import dataclass

from cityops_incidents.rules import Rules
from cityops_incidents.triage_rules import Reading
from cityops_platform.city import current_city


@dataclass(frozen=True)
class Triage:
    priority: int  # 1 = P1 (most urgent) … 4 = P4
    eido_priority: int  # 0-10, 10 = most urgent
    agency: str
    reasons: tuple[str, ...]  # which rules decided, for the timeline


def read(rules: Rules, description: str) -> Reading:
    """What triage reads in ``description``: counting keywords, negated ones, contexts."""
    return rules.triage_rules.read(description)


def keyword_priority(rules: Rules, description: str) -> tuple[int, str] | None:
    """The most urgent keyword phrase counting in ``description`` (not negated, not part of a fixed
    expression; contexts not applied), or None."""
    hits = read(rules, description).keywords
    if not hits:
        return None
    best = min(hits, key=lambda h: (h.priority, -len(h.phrase)))
    return best.priority, best.phrase


def count_steps(rules: Rules, report_count: int) -> int:
    """How many report-count thresholds ``report_count`` has reached."""
    return sum(1 for threshold in rules.triage_rules.report_count_steps if report_count >= threshold)


def raise_priority(priority: int, steps: int = 1) -> int:
    """``steps`` levels more urgent, never beyond P1."""
    return max(1, priority - steps)


def canonical_subcategory(rules: Rules, subcategory: str) -> str:
    """The catalogue code of ``subcategory``: an old alias ("den_hong") becomes its code ("den_duong_hong")."""
    return rules.triage_rules.canonical(subcategory)


def route(rules: Rules, category: str, subcategory: str) -> str:
    """The agency an incident is routed to: the subcategory's, else the category's (rules.yaml), else
    the category's own agency in the city's registry (city.yaml)."""
    tr = rules.triage_rules
    by_code = tr.agency_by_subcategory.get(tr.canonical(subcategory))
    if by_code or category in tr.agency_by_category:
        return by_code or tr.agency_by_category[category]
    registered = current_city().category(category)
    return registered.agency if registered else current_city().agency_codes[0]


def triage(
    rules: Rules,
    *,
    category: str,
    subcategory: str = "",
    source: str = "",
    description: str = "",
    report_count: int = 1,
    sensor_level: str = "",
) -> Triage:
    """Priority = the most urgent of: the base (category's, or the subcategory's own base), the
    subcategory's floor, the source, the keywords of the description and the sensor level; a
    routine context ("diễn tập", "va chạm nhẹ") caps the base, floor and weaker keywords. Then one
    step more urgent per report-count threshold reached. Deterministic."""
    tr = rules.triage_rules
    sub = tr.canonical(subcategory)
    base = tr.subcategory_base.get(sub, tr.base.get(category, 4))
    reasons = [f"subcategory {sub}: P{base}" if sub in tr.subcategory_base else f"category {category}: P{base}"]
    floor = tr.subcategory_floor.get(sub)
    reading = tr.read(description)
    keywords = [(h.priority, f"keyword '{h.phrase}'" + (" (không dấu)" if h.by_folding else ""))
                for h in reading.keywords]
    for ctx in (c for c in reading.contexts if c.applies_to(category)):
        capped_base = max(base, ctx.cap)
        if capped_base != base:
            reasons.append(f"context '{ctx.phrase.text}': P{base} → P{capped_base}")
            base = capped_base
        if floor is not None:
            floor = max(floor, ctx.cap)
        kept = ctx.overridden_by
        keywords = [(level if kept is not None and level <= kept else max(level, ctx.cap), why)
                    for level, why in keywords]
    for phrase in reading.negated:
        reasons.append(f"negated '{phrase}'")
    priority = base
    candidates: list[tuple[int, str]] = []
    if floor is not None:
        candidates.append((floor, f"subcategory {sub}"))
    if source in tr.source:
        candidates.append((tr.source[source], f"source {source}"))
    candidates.extend(sorted(keywords))
    if sensor_level in tr.sensor_levels:
        candidates.append((tr.sensor_levels[sensor_level], f"sensor level {sensor_level}"))
    for level, why in candidates:
        if level < priority:
            priority = level
            reasons.append(f"{why}: P{level}")
    steps = count_steps(rules, report_count)
    if steps:
        priority = raise_priority(priority, steps)
        reasons.append(f"report_count {report_count}: +{steps} → P{priority}")
    return Triage(
        priority=priority,
        eido_priority=tr.eido.get(priority, 0),
        agency=route(rules, category, sub),
        reasons=tuple(reasons),
    )
