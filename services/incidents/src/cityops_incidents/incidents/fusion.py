"""Fusion: which open incident (if any) a new report belongs to, and why.

A report may join an open incident of its own category or of a category related to it by the
equivalence graph of rules.yaml (``fusion.equivalences``: FIELD_REPORT "đường ngập" ≈ FLOOD, smoke
≈ FIRE, ...), when the incident lies within the radius and its latest report within the window of
the incident's category rule (or the edge's own). Among those, the highest score wins:

    score = relation × (0.55 · closeness in space + 0.30 · closeness in time + 0.15 · text similarity)

where relation is 1 for the same category and the edge's weight otherwise, each closeness is
``1 - value / limit`` and text similarity is the Jaccard index of the words (with diacritics).
Every merge records the score and its reasons on the timeline. The database side (H3 lock cells and
the candidate query) lives in store.py and intake.py; this module is the pure decision.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cityops_incidents.geo import distance_m
from cityops_incidents.rules import FusionEdge, FusionRule, Rules

W_DISTANCE, W_TIME, W_TEXT = 0.55, 0.30, 0.15
_WORD_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    incident_id: str
    lat: float
    lon: float
    last_report_at: datetime
    category: str = ""
    subcategory: str = ""
    description: str = ""


@dataclass(frozen=True)
class ReportFacts:
    """What fusion reads of a new report."""

    category: str
    lat: float
    lon: float
    at: datetime
    subcategory: str = ""
    description: str = ""


@dataclass(frozen=True)
class Match:
    incident_id: str
    distance_m: float
    score: float = 1.0
    reasons: tuple[str, ...] = ()
    relation: str = ""  # "" for the same category, else "FIELD_REPORT≈FLOOD"


def fuses(rule: FusionRule) -> bool:
    """False for categories that are never fused (radius or window of zero)."""
    return rule.radius_m > 0 and rule.window.total_seconds() > 0


def fold(text: str) -> str:
    """Lowercase NFC with single spaces; diacritics KEPT ("Ngập" → "ngập", never "ngap")."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFC", text or "").casefold()).strip()


# A batch compares each report with every open incident near it, and each incident with every report
# near it: the same texts are folded, split and searched over and over (fusion grew with the number of
# open incidents in a surge's profile). Each is done once per distinct text, bounded (≤ 4,096 texts).
@lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    return fold(text)


@lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD_RE.findall(_folded(text)))


@lru_cache(maxsize=1024)
def _phrases_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One search for any of ``phrases`` as whole words (folded, diacritics kept); None when all are empty."""
    needles = sorted({n for n in (fold(p) for p in phrases) if n}, key=len, reverse=True)
    if not needles:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in needles) + r")(?!\w)")


def has_any_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    """Some phrase of ``phrases`` occurs in ``text`` as whole words, with its diacritics."""
    pattern = _phrases_pattern(phrases)
    return pattern is not None and pattern.search(_folded(text)) is not None


def has_phrase(text: str, phrase: str) -> bool:
    """``phrase`` occurs in ``text`` as whole words, with its diacritics ("nở" is not "nổ")."""
    return has_any_phrase(text, (phrase,))


def text_similarity(a: str, b: str) -> float:
    """Jaccard index of the two texts' word sets (diacritics kept); 0 when either is empty."""
    wa, wb = _words(a or ""), _words(b or "")
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def edge_holds(edge: FusionEdge, *, subcategory: str, description: str) -> bool:
    """The edge's condition on its ``from`` side: a listed subcategory or a keyword in the text."""
    if not edge.subcategories and not edge.keywords:
        return True
    return subcategory in edge.subcategories or has_any_phrase(description, edge.keywords)


def related_categories(rules: Rules, category: str) -> list[str]:
    """``category`` and every fusing category the graph relates to it (the candidate search)."""
    out = [category]
    for e in rules.fusion_edges_of(category):
        other = e.b if e.a == category else e.a
        if other not in out and fuses(rules.fusion_rule(other)):
            out.append(other)
    return out


def pair_rule(rules: Rules, report_category: str, incident_category: str) -> FusionRule | None:
    """Radius and window for a report of one category joining an incident of another (None:
    unrelated). The same category uses its own rule; an edge its own limits or the incident's rule."""
    if report_category == incident_category:
        rule = rules.fusion_rule(incident_category)
        return rule if fuses(rule) else None
    base = rules.fusion_rule(incident_category)
    for e in rules.fusion_edges_of(report_category):
        if incident_category in (e.a, e.b):
            rule = FusionRule(e.radius_m if e.radius_m is not None else base.radius_m,
                              e.window if e.window is not None else base.window)
            return rule if fuses(rule) else None
    return None


def search_extent(rules: Rules, category: str) -> tuple[list[str], float, timedelta]:
    """(categories, radius, window) covering every incident a report of ``category`` may join."""
    key = ("search_extent", category)
    if key not in rules.memo:
        rules.memo[key] = _search_extent(rules, category)
    cats, radius, window = rules.memo[key]
    return list(cats), radius, window


def _search_extent(rules: Rules, category: str) -> tuple[list[str], float, timedelta]:
    own = rules.fusion_rule(category)
    if not fuses(own):
        return [], 0.0, timedelta(0)
    cats = related_categories(rules, category)
    rules_ = [r for r in (pair_rule(rules, category, c) for c in cats) if r is not None]
    return cats, max(r.radius_m for r in rules_), max(r.window for r in rules_)


def search_pairs(rules: Rules, category: str) -> list[tuple[str, float, timedelta]]:
    """(incident category, radius, window) of each category a report of ``category`` may join:
    ``search_extent`` split by category, so each is searched only as far and as far back as its
    pair rule allows (a FIRE report looks for FIRE incidents within 300 m, ENVIRONMENT ones within
    1 km). Incidents outside these can never pass ``evaluate``."""
    key = ("search_pairs", category)
    if key not in rules.memo:
        cats = search_extent(rules, category)[0]
        rules.memo[key] = tuple((c, rule.radius_m, rule.window) for c in cats
                                if (rule := pair_rule(rules, category, c)) is not None)
    return list(rules.memo[key])


def lock_scopes(rules: Rules, category: str) -> list[tuple[str, float]]:
    """(scope name, radius) of the advisory locks a report of ``category`` takes: one per
    related pair of categories, named the same from both sides ("FIELD_REPORT+FLOOD"), with
    the pair's widest radius. Two reports that could fuse (same category, or an edge between
    theirs) therefore share a scope and, being within its radius, a lock cell."""
    key = ("lock_scopes", category)
    if key not in rules.memo:
        rules.memo[key] = _lock_scopes(rules, category)
    return list(rules.memo[key])


def _lock_scopes(rules: Rules, category: str) -> list[tuple[str, float]]:
    if not fuses(rules.fusion_rule(category)):
        return []
    scopes = []
    for other in related_categories(rules, category):
        pair = sorted({category, other})
        radii = [r.radius_m for r in (pair_rule(rules, category, other), pair_rule(rules, other, category)) if r]
        scopes.append(("+".join(pair), max(radii)))
    return scopes


def _edge(rules: Rules, a: str, b: str) -> FusionEdge | None:
    return next((e for e in rules.fusion_edges_of(a) if b in (e.a, e.b)), None)


def evaluate(rules: Rules, report: ReportFacts, c: Candidate) -> Match | None:
    """The score and reasons of ``report`` joining candidate ``c``; None when it may not."""
    category = c.category or report.category
    rule = pair_rule(rules, report.category, category)
    if rule is None:
        return None
    relation, label = 1.0, ""
    if category != report.category:
        edge = _edge(rules, report.category, category)
        if edge is None:
            return None
        side_is_report = edge.a == report.category
        holds = edge_holds(
            edge,
            subcategory=report.subcategory if side_is_report else c.subcategory,
            description=report.description if side_is_report else c.description,
        )
        if not holds:
            return None
        relation, label = edge.relation, f"{report.category}≈{category}"
    return _scored(rule, report, c, relation=relation, label=label)


def _scored(rule: FusionRule, report: ReportFacts, c: Candidate, *, relation: float, label: str) -> Match | None:
    d = distance_m(report.lat, report.lon, c.lat, c.lon)
    age = abs((report.at - c.last_report_at).total_seconds())
    window = rule.window.total_seconds()
    if d > rule.radius_m or age > window:
        return None
    near = 1 - d / rule.radius_m
    recent = 1 - age / window
    similar = text_similarity(report.description, c.description)
    score = relation * (W_DISTANCE * near + W_TIME * recent + W_TEXT * similar)
    reasons = (
        f"khoảng cách {d:.0f} m / {rule.radius_m:.0f} m (distance)",
        f"thời gian {age / 60:.0f} phút / {window / 60:.0f} phút (time)",
        (f"liên quan loại {label} ×{relation:g} (category relation)" if label
         else f"cùng loại {report.category} (same category)"),
        f"tương đồng văn bản {similar:.2f} (text similarity)",
    )
    return Match(c.incident_id, d, round(score, 3), reasons, label)


def best_fusion(rules: Rules, report: ReportFacts, candidates: Iterable[Candidate]) -> Match | None:
    """The highest-scoring candidate the report may join; ties go to the nearest."""
    if not fuses(rules.fusion_rule(report.category)):
        return None
    best: Match | None = None
    for c in candidates:
        m = evaluate(rules, report, c)
        if m is not None and (best is None or (m.score, -m.distance_m) > (best.score, -best.distance_m)):
            best = m
    return best


def best_match(
    rule: FusionRule, *, lat: float, lon: float, at: datetime, candidates: Iterable[Candidate]
) -> Match | None:
    """Same-category fusion under one rule: the best-scoring candidate inside the radius and window."""
    if not fuses(rule):
        return None
    report = ReportFacts(category="", lat=lat, lon=lon, at=at)
    best: Match | None = None
    for c in candidates:
        m = _scored(rule, report, c, relation=1.0, label="")
        if m is not None and (best is None or (m.score, -m.distance_m) > (best.score, -best.distance_m)):
            best = m
    return best
