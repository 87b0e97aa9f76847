"""The call-taker intake's pure rules: folding and the nearby ranking (phone keys: unit/incidents/test_phone_hash)."""

from __future__ import annotations

from cityops_gateway.console.intake import fold, rank_nearby


def test_fold_drops_diacritics_for_matching_only() -> None:
    assert fold("Đường Cây Xanh") == "duong cay xanh"
    assert fold("nở") == fold("nổ")  # folding is for search; stored text keeps its marks


def test_nearer_newer_same_kind_and_similar_text_ranks_higher() -> None:
    base = {"radius_m": 1000.0, "age_s": 600.0, "same_category": True, "text": "ngập sâu trước chợ",
            "other_text": "Nước ngập sâu trước chợ Thuận Giao"}
    best = rank_nearby(distance_m=50.0, **base)  # type: ignore[arg-type]
    assert rank_nearby(distance_m=800.0, **base).score < best.score  # type: ignore[arg-type]
    assert rank_nearby(distance_m=50.0, **{**base, "age_s": 6 * 3600.0}).score < best.score  # type: ignore[arg-type]
    assert rank_nearby(distance_m=50.0, **{**base, "same_category": False}).score < best.score  # type: ignore[arg-type]
    assert rank_nearby(distance_m=50.0, **{**base, "other_text": "cây đổ"}).score < best.score  # type: ignore[arg-type]
    assert "cùng loại (same category)" in best.reasons
    assert 0.0 <= best.score <= 1.0


def test_text_similarity_ignores_diacritics_of_the_callers_words() -> None:
    plain = rank_nearby(distance_m=100.0, radius_m=1000.0, age_s=0.0, same_category=False,
                        text="ngap sau truoc cho", other_text="Ngập sâu trước chợ")
    none = rank_nearby(distance_m=100.0, radius_m=1000.0, age_s=0.0, same_category=False,
                       text="chay nha", other_text="Ngập sâu trước chợ")
    assert plain.score > none.score
