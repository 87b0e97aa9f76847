"""The ``triage`` and ``routing`` sections of rules.yaml, compiled once at load.

Every phrase (keywords, negations, fixed expressions, contexts) is normalised and its
fold-safety decided here, when the rules are loaded, never per report. Subcategory codes are
the Open311 catalogue's (``o_ga_mat_duong``, ``den_duong_hong``…); older codes are accepted as
aliases (``routing.aliases``) and resolved to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.phrases import (
    Lexicon,
    Match,
    Phrase,
    PhraseIndex,
    clauses,
    compile_phrases,
    default_lexicon_file,
    is_plain,
    load_lexicon_entries,
    words,
)
from cityops_platform.city import City, current_city


def _priority(name: Any) -> int:
    full = f"PRIORITY_{name}"
    if full not in pb.Priority.keys():  # noqa: SIM118 (protobuf EnumTypeWrapper)
        raise ValueError(f"unknown priority {name!r} in rules")
    return int(pb.Priority.Value(full))


def _checked(enum: Any, prefix: str, name: Any) -> str:
    if f"{prefix}{name}" not in enum.keys():  # noqa: SIM118
        raise ValueError(f"unknown {prefix.rstrip('_').lower()} {name!r} in rules")
    return str(name)


@dataclass(frozen=True)
class Context:
    """A context that makes a report routine ("diễn tập", "va chạm nhẹ"): it caps the category's and
    subcategory's priority and every keyword's at ``cap``, except keywords at ``overridden_by`` or more
    urgent (None: no keyword overrides it)."""

    phrase: Phrase
    cap: int
    overridden_by: int | None
    categories: frozenset[str] = frozenset()  # empty: every category

    def applies_to(self, category: str) -> bool:
        return not self.categories or category in self.categories


@dataclass(frozen=True)
class KeywordHit:
    """A keyword found in a description; ``by_folding`` when it matched only once diacritics were folded."""

    phrase: str
    priority: int
    by_folding: bool


@dataclass(frozen=True)
class Reading:
    """What triage read in a description: the keywords that count, and the contexts found."""

    keywords: tuple[KeywordHit, ...]
    negated: tuple[str, ...]
    contexts: tuple[Context, ...]


@dataclass(frozen=True)
class TriageRules:
    base: Mapping[str, int]
    subcategory_base: Mapping[str, int]
    subcategory_floor: Mapping[str, int]
    source: Mapping[str, int]
    sensor_levels: Mapping[str, int]
    report_count_steps: tuple[int, ...]
    eido: Mapping[int, int]
    agency_by_category: Mapping[str, str]
    agency_by_subcategory: Mapping[str, str]
    aliases: Mapping[str, str]
    keyword_priority: Mapping[str, int]
    keywords: PhraseIndex
    negations: PhraseIndex
    negation_gap: frozenset[str]
    negation_gap_max: int
    fixed: PhraseIndex
    contexts: Mapping[str, tuple[Context, ...]]
    folded_text_max_marked: float
    context_index: PhraseIndex
    abbreviations: Mapping[str, str]

    def canonical(self, subcategory: str) -> str:
        """The catalogue code for ``subcategory`` (an old alias resolves to its new code)."""
        code = (subcategory or "").strip()
        return self.aliases.get(code, code)

    @property
    def subcategory_codes(self) -> frozenset[str]:
        """Every subcategory code the rules know (routing.subcategories is the vocabulary)."""
        return frozenset(self.agency_by_subcategory)

    def read(self, description: str) -> Reading:
        """Keywords (not negated, not inside a fixed expression) and contexts of ``description``."""
        text = clauses(description, self.abbreviations)
        if not text:
            return Reading((), (), ())
        # A writer who uses diacritics means the unmarked words as written ("bị bong gạch" is
        # peeling tiles, not "bị bỏng"): folded matching only for text typed (mostly) without them.
        tokens = [t for t in words(description) if not t.isdigit()]  # as typed, before abbreviations
        marked = sum(1 for t in tokens if not is_plain(t)) / max(1, len(tokens))
        folding = marked <= self.folded_text_max_marked
        masked = {(m.clause, i) for m in self.fixed.find(text, folding) for i in range(m.start, m.end)}
        cues = self.negations.find(text, folding)
        cue_ends = {(m.clause, m.end - 1) for m in cues}
        hits: list[KeywordHit] = []
        negated: list[str] = []
        for m in self.keywords.find(text, folding):
            if any((m.clause, i) in masked for i in range(m.start, m.end)):
                continue
            if self._is_negated(m, text[m.clause], cue_ends) or any(
                    c.clause == m.clause and c.start < m.start < c.end for c in cues):
                negated.append(m.phrase.text)
                continue
            hits.append(KeywordHit(m.phrase.text, self.keyword_priority[m.phrase.text], m.by_folding))
        found = {m.phrase.text for m in self.context_index.find(text, folding)
                 if not any((m.clause, i) in masked for i in range(m.start, m.end))}
        return Reading(tuple(hits), tuple(negated), tuple(c for t in sorted(found) for c in self.contexts[t]))

    def _is_negated(self, m: Match, tokens: list[str], cue_ends: set[tuple[int, int]]) -> bool:
        """A negation cue ends right before the keyword, or before at most ``negation_gap_max``
        filler words ("không có ai bị thương", "chưa ghi nhận thương vong"). (A cue that overlaps the
        keyword's start negates it too: "không có người" + "có người bị thương".)"""
        pos = m.start - 1
        for _ in range(self.negation_gap_max + 1):
            if pos < 0:
                return False
            if (m.clause, pos) in cue_ends:
                return True
            if tokens[pos] not in self.negation_gap:
                return False
            pos -= 1
        return False


def _phrase_list(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
        raise ValueError(f"{where}: expected a list of phrases")
    return [str(w) for w in raw]


def _code(codes: tuple[str, ...], kind: str, name: Any) -> str:
    if str(name) not in codes:
        raise ValueError(f"unknown {kind} {name!r} in rules (the city's codes: {', '.join(codes)})")
    return str(name)


def parse_triage_rules(raw: dict[str, Any], lexicon_file: str | Path | None = None,
                       city: City | None = None) -> TriageRules:
    """Validate and compile the ``triage`` and ``routing`` sections of a rules document; category
    and agency codes are checked against ``city``'s registry (default: this process's city)."""
    city = city or current_city()
    cats, agencies = city.category_codes, city.agency_codes
    triage = raw["triage"]
    routing = raw["routing"]
    categories = {c: _priority(p) for c, p in triage["base"].items()}
    for c in categories:
        _code(cats, "category", c)
    aliases = {str(k): str(v) for k, v in (routing.get("aliases") or {}).items()}
    agency_by_subcategory = {str(s): _code(agencies, "agency", a)
                             for s, a in (routing.get("subcategories") or {}).items()}
    for old, new in aliases.items():
        if new not in agency_by_subcategory:
            raise ValueError(f"routing.aliases: {old!r} -> {new!r}, which routing.subcategories does not list")
        if old in agency_by_subcategory:
            raise ValueError(f"routing.aliases: {old!r} is both an alias and a code")

    def code(s: Any) -> str:
        return aliases.get(str(s), str(s))

    keyword_priority: dict[str, int] = {}
    for group in triage.get("keywords", []):
        level = _priority(group["priority"])
        for w in _phrase_list(group["words"], "triage.keywords"):
            key = " ".join(words(w))
            keyword_priority[key] = min(level, keyword_priority.get(key, level))
    negations = _phrase_list(triage.get("negations", []), "triage.negations")
    fixed = _phrase_list(triage.get("fixed_expressions", []), "triage.fixed_expressions")
    context_groups = triage.get("contexts", [])
    context_words = [w for g in context_groups for w in _phrase_list(g["words"], "triage.contexts")]
    # Fold-safety is decided against the lexicon AND every phrase of the rules.
    lexicon = Lexicon.build([*load_lexicon_entries(lexicon_file or default_lexicon_file(city)),
                             *keyword_priority, *negations, *fixed, *context_words])
    # Two keywords of the same priority that fold alike ("ngừng thở", "ngưng thở") do not make each other unsafe.
    by_level: dict[int, list[str]] = {}
    for text, level in keyword_priority.items():
        by_level.setdefault(level, []).append(text)
    kw = compile_phrases(keyword_priority, lexicon, {t: by_level[lv] for t, lv in keyword_priority.items()})
    contexts: dict[str, tuple[Context, ...]] = {}
    for g in context_groups:
        over = g.get("overridden_by")
        scope = frozenset(_code(cats, "category", c) for c in g.get("categories") or [])
        for text, p in compile_phrases(_phrase_list(g["words"], "triage.contexts"), lexicon).items():
            ctx = Context(p, _priority(g["cap"]), _priority(over) if over else None, scope)
            contexts[text] = (*contexts.get(text, ()), ctx)
    for source in triage.get("sources", {}):
        _checked(pb.Source, "SOURCE_", source)
    return TriageRules(
        base=categories,
        subcategory_base={code(s): _priority(p) for s, p in (triage.get("subcategory_base") or {}).items()},
        subcategory_floor={code(s): _priority(p) for s, p in (triage.get("subcategories") or {}).items()},
        source={str(s): _priority(p) for s, p in (triage.get("sources") or {}).items()},
        sensor_levels={str(lv): _priority(p) for lv, p in (triage.get("sensor_levels") or {}).items()},
        report_count_steps=tuple(sorted(int(n) for n in triage.get("report_count_steps", []))),
        eido={_priority(p): int(v) for p, v in triage["eido"].items()},
        agency_by_category={_code(cats, "category", c): _code(agencies, "agency", a)
                            for c, a in routing["categories"].items()},
        agency_by_subcategory=agency_by_subcategory,
        aliases=aliases,
        keyword_priority=keyword_priority,
        keywords=PhraseIndex(list(kw.values())),
        negations=PhraseIndex(list(compile_phrases(negations, lexicon).values())),
        negation_gap=frozenset(w for g in _phrase_list(triage.get("negation_gap", []), "triage.negation_gap")
                               for w in words(g)),
        negation_gap_max=int(triage.get("negation_gap_max", 2)),
        fixed=PhraseIndex(list(compile_phrases(fixed, lexicon).values())),
        contexts=contexts,
        folded_text_max_marked=float(triage.get("folded_text_max_marked", 0.25)),
        context_index=PhraseIndex([cs[0].phrase for cs in contexts.values()]),
        abbreviations={" ".join(words(k)): str(v) for k, v in (triage.get("abbreviations") or {}).items()},
    )
