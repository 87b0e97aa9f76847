"""Diacritic folding (text.fold / normalize), in-house since unidecode (GPL) was dropped.

The expected strings were produced by unidecode 1.4.0, the previous implementation, so these tests
prove the in-house fold behaves the same on Vietnamese; the triage corpus (rules.yaml) is the
data the fold is used on.
"""

from __future__ import annotations

import pytest

from cityops_incidents.rules import raw_default_rules
from cityops_incidents.text import fold, normalize

# Every Vietnamese vowel with each of its tones, then đ; lower case, then upper case.
VIETNAMESE_LETTERS = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
# unidecode 1.4.0 of VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper()
UNIDECODE_OF_LETTERS = (
    "aaaaaaaaaaaaaaaaaaeeeeeeeeeeeeiiiiiioooooooooooooooooouuuuuuuuuuuuyyyyyyd"
    "AAAAAAAAAAAAAAAAAAEEEEEEEEEEEEIIIIIIOOOOOOOOOOOOOOOOOOUUUUUUUUUUUUYYYYYYD"
)


def test_every_vietnamese_letter_folds_as_unidecode_did() -> None:
    assert fold(VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper()) == UNIDECODE_OF_LETTERS


def test_decomposed_input_folds_like_precomposed() -> None:
    # Text pasted from some keyboards arrives decomposed (NFD): "ngập" as n, g, a, ◌̣, ◌̂, p.
    assert normalize("nga\u0323\u0302p") == normalize("ngập") == "ngap"


@pytest.mark.parametrize(("text", "expected"), [
    ("Có người BỊ THƯƠNG nặng", "co nguoi bi thuong nang"),
    ("Đuối nước ở hồ Dầu Tiếng", "duoi nuoc o ho dau tieng"),
    ("Ｃháy １２ giờ", "chay 12 gio"),  # full-width forms, as unidecode folded them
    ("", ""),
])
def test_normalize_examples_match_unidecode(text: str, expected: str) -> None:
    assert normalize(text) == expected


def _corpus() -> list[str]:
    raw = raw_default_rules()
    words = [w for group in raw["triage"]["keywords"] for w in group["words"]]
    return words + [c["name"] for c in raw["districts"]["centres"]]


def test_triage_corpus_folds_to_plain_ascii_letters() -> None:
    corpus = _corpus()
    assert len(corpus) > 20
    for phrase in corpus:
        folded = normalize(phrase)
        assert folded.isascii() and folded.replace(" ", "").isalpha(), (phrase, folded)
