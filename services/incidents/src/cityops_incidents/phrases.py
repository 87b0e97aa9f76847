"""Vietnamese phrase matching with diacritics, and the fold-safety of phrases.

A phrase ("cháy nhà", "bị thương nặng") matches a run of whole words inside one clause of a
text (clauses end at punctuation, so "không cháy, có người bị thương" is two clauses). Each
word must be equal with its diacritics (NFC, lowercase), because diacritics are meaning:
"nổ" (explode), "nở" (bloom) and "nợ" (owe) all fold to "no".

Text typed without diacritics is still read, but only where that is unambiguous: a word of the
text that carries no mark may match a phrase word by its folded form only when the whole phrase
is **fold-safe**. A phrase is fold-safe when no other entry of the lexicon (common Vietnamese words
and phrases, ``config/lexicon_vi.yaml``, plus every phrase of the rules themselves) with the same
number of syllables folds to the same string. "nổ" is not fold-safe ("no" is also nở, nợ, no, nó),
"cháy" is not ("chay" is also chạy, chảy, chay), "bị thương" is not ("bi thương", sorrowful),
"bị cháy" is not ("bị chảy máu" contains "bi chay"), but "cháy nhà" and "người bị thương" are.
Every contiguous run of syllables of a lexicon entry is a reading, so a phrase is also unsafe when
its fold occurs inside a longer common phrase.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cityops_incidents.text import exact, fold, has_marks
from cityops_platform.city import City, current_city


def default_lexicon_file(city: City | None = None) -> Path:
    """The city's lexicon of its default language (``incidents/lexicon_<lang>.yaml``); it may be absent."""
    city = city or current_city()
    return city.file(f"incidents/lexicon_{city.default_language}.yaml")


DEFAULT_LEXICON_FILE = default_lexicon_file()
# Clause boundaries: a phrase never spans them, and a negation never reaches across them.
_CLAUSE_RE = re.compile(r"[.,;:!?…\n\r\t()\[\]{}\"“”«»|/\\–—]+|\s-\s")
_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


@lru_cache(maxsize=65536)
def is_plain(word: str) -> bool:
    """Whether ``word`` carries no diacritic (cached: words repeat across reports)."""
    return not has_marks(word)


def words(text: str) -> list[str]:
    """The words of ``text`` in exact form (NFC, lowercase, diacritics kept)."""
    return _WORD_RE.findall(exact(text))


def clauses(text: str, abbreviations: Mapping[str, str] | None = None) -> list[list[str]]:
    """The clauses of ``text``, each a list of words; ``abbreviations`` expand words ("ko" → "không")."""
    out: list[list[str]] = []
    for part in _CLAUSE_RE.split(exact(text)):
        tokens: list[str] = []
        for w in _WORD_RE.findall(part):
            tokens.extend(words(abbreviations[w]) if abbreviations and w in abbreviations else [w])
        if tokens:
            out.append(tokens)
    return out


@dataclass(frozen=True)
class Phrase:
    """A rule phrase, normalised once: its words as written and folded, and whether folded text may match it."""

    text: str
    tokens: tuple[str, ...]
    folded: tuple[str, ...]
    fold_safe: bool


@dataclass(frozen=True)
class Match:
    phrase: Phrase
    clause: int
    start: int
    end: int  # exclusive
    by_folding: bool  # at least one word matched only by its folded form


def _key(tokens: Iterable[str]) -> str:
    return " ".join(tokens)


@dataclass(frozen=True)
class Lexicon:
    """Common Vietnamese words and phrases, by folded form: what a folded string could also mean."""

    readings: Mapping[str, frozenset[str]]

    @classmethod
    def build(cls, entries: Iterable[str]) -> Lexicon:
        """Index every contiguous run of syllables of every entry by its folded form: "bị chảy máu"
        is also a reading of "bi chay" (so the phrase "bị cháy" cannot match it folded)."""
        by_fold: dict[str, set[str]] = defaultdict(set)
        for entry in entries:
            tokens = words(entry)
            for i in range(len(tokens)):
                for j in range(i + 1, len(tokens) + 1):
                    by_fold[_key(fold(t) for t in tokens[i:j])].add(_key(tokens[i:j]))
        return cls({k: frozenset(v) for k, v in by_fold.items()})

    def collisions(self, phrase: str, harmless: Iterable[str] = ()) -> frozenset[str]:
        """The other readings that fold like ``phrase`` (``harmless``: readings with the same effect,
        such as two spellings of one keyword, "ngừng thở"/"ngưng thở")."""
        tokens = words(phrase)
        key = _key(fold(t) for t in tokens)
        ignore = {_key(tokens), *(_key(words(h)) for h in harmless)}
        return frozenset(r for r in self.readings.get(key, frozenset()) if r not in ignore)


def load_lexicon_entries(path: str | Path = DEFAULT_LEXICON_FILE) -> list[str]:
    """Every word and phrase of a lexicon file (``{group: [entries or lists of entries]}``); none
    when the city has no lexicon for its language (the rules' own phrases still count)."""
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif node is not None:
            out.append(str(node))

    walk(list(raw.values()))
    return out


def compile_phrases(
    texts: Iterable[str], lexicon: Lexicon, harmless: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Phrase]:
    """``texts`` as Phrases keyed by their exact form; fold-safety decided against ``lexicon``
    (which must already contain every rule phrase, so two rule phrases can collide too;
    ``harmless[text]``: readings that would have the same effect as ``text``)."""
    out: dict[str, Phrase] = {}
    for text in texts:
        tokens = tuple(words(text))
        if not tokens:
            raise ValueError(f"empty phrase {text!r} in rules")
        folded = tuple(fold(t) for t in tokens)
        same = (harmless or {}).get(_key(tokens), ())
        out[_key(tokens)] = Phrase(_key(tokens), tokens, folded, not lexicon.collisions(text, same))
    return out


@dataclass
class PhraseIndex:
    """Phrases indexed by their first word (exact and, for fold-safe phrases, folded)."""

    phrases: list[Phrase]
    _exact: dict[str, list[Phrase]] = field(default_factory=dict)
    _folded: dict[str, list[Phrase]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for p in self.phrases:
            self._exact.setdefault(p.tokens[0], []).append(p)
            if p.fold_safe:
                self._folded.setdefault(p.folded[0], []).append(p)

    def find(self, text_clauses: list[list[str]], folding: bool = True) -> list[Match]:
        """Every occurrence of every phrase in the clauses (overlaps included); ``folding``: whether
        unmarked words may match fold-safe phrases by their folded form."""
        found: list[Match] = []
        for ci, tokens in enumerate(text_clauses):
            plain = [folding and is_plain(t) for t in tokens]
            for i, token in enumerate(tokens):
                seen: set[str] = set()
                for p in (*self._exact.get(token, ()), *(self._folded.get(token, ()) if plain[i] else ())):
                    if p.text in seen:
                        continue
                    seen.add(p.text)
                    m = _match_at(p, tokens, plain, i)
                    if m is not None:
                        found.append(Match(p, ci, i, i + len(p.tokens), m))
        return found


def _match_at(p: Phrase, tokens: list[str], plain: list[bool], i: int) -> bool | None:
    """None when ``p`` does not start at word ``i``; else whether folding was needed."""
    if i + len(p.tokens) > len(tokens):
        return None
    folded = False
    for k, want in enumerate(p.tokens):
        got = tokens[i + k]
        if got == want:
            continue
        if p.fold_safe and plain[i + k] and got == p.folded[k]:
            folded = True
            continue
        return None
    return folded
