"""Triage: priority P1-P4, EIDO priority and agency from the rules in rules.yaml.

Pure functions of their inputs: the same report always gets the same answer, so the rules can be
tested without a database and replayed after a config change.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityops_incidents.config import Rules
from cityops_incidents.text import normalize


@dataclass(frozen=True)
class Triage:
    priority: int  # 1 = P1 (most urgent) … 4 = P4
    eido_priority: int  # 0-10, 10 = most urgent
    agency: str
    reasons: tuple[str, ...]  # which rules decided, for the timeline


def keyword_priority(rules: Rules, description: str) -> tuple[int, str] | None:
    """The most urgent keyword group matching ``description`` (case and diacritics ignored)."""
    text = f" {normalize(description)} "
    best: tuple[int, str] | None = None
    for priority, words in rules.keywords:
        for word in words:
            if f" {normalize(word)} " in text and (best is None or priority < best[0]):
                best = (priority, word)
    return best


def count_steps(rules: Rules, report_count: int) -> int:
    """How many report-count thresholds ``report_count`` has reached."""
    return sum(1 for threshold in rules.report_count_steps if report_count >= threshold)


def raise_priority(priority: int, steps: int = 1) -> int:
    """``steps`` levels more urgent, never beyond P1."""
    return max(1, priority - steps)


def route(rules: Rules, category: str, subcategory: str) -> str:
    """The agency an incident is routed to: the subcategory's override, else the category's."""
    return rules.agency_by_subcategory.get(subcategory) or rules.agency_by_category.get(category, "ADMIN_CENTER")


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
    """Priority = the most urgent of the category base, subcategory, source, keywords and sensor
    level; then one step more urgent per report-count threshold reached."""
    priority = rules.base_priority.get(category, 4)
    reasons = [f"category {category}: P{priority}"]
    candidates: list[tuple[int, str]] = []
    if subcategory in rules.subcategory_priority:
        candidates.append((rules.subcategory_priority[subcategory], f"subcategory {subcategory}"))
    if source in rules.source_priority:
        candidates.append((rules.source_priority[source], f"source {source}"))
    keyword = keyword_priority(rules, description)
    if keyword is not None:
        candidates.append((keyword[0], f"keyword '{keyword[1]}'"))
    if sensor_level in rules.sensor_level_priority:
        candidates.append((rules.sensor_level_priority[sensor_level], f"sensor level {sensor_level}"))
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
        eido_priority=rules.eido.get(priority, 0),
        agency=route(rules, category, subcategory),
        reasons=tuple(reasons),
    )
