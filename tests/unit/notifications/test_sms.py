"""SMS length rules: GSM-7 vs UCS-2 and explicit splitting."""

from __future__ import annotations

from cityops_notifications.sms import is_gsm7, split_sms, units


def test_plain_ascii_fits_160_gsm7_characters_in_one_sms() -> None:
    text = "A" * 160
    assert is_gsm7(text) and split_sms(text) == [text]


def test_vietnamese_diacritics_force_ucs2_and_70_units_per_sms() -> None:
    text = "Cảnh báo ngập lụt tại Phường Phú Cường, Thủ Dầu Một: không đi qua đường Yersin lúc này."
    assert not is_gsm7(text)
    parts = split_sms(text)
    assert len(parts) == 2
    assert all(units(p, gsm7=False) <= 70 for p in parts)
    assert parts[0].startswith("(1/2) ") and parts[1].startswith("(2/2) ")
    assert " ".join(p.split(" ", 1)[1] for p in parts) == text


def test_gsm7_extension_characters_count_double() -> None:
    assert units("€[]", gsm7=True) == 6


def test_too_long_text_is_cut_to_max_parts_and_says_so() -> None:
    text = " ".join(["Mưa lớn kéo dài"] * 60)
    parts = split_sms(text, max_parts=3)
    assert len(parts) == 3 and parts[-1].endswith("…")
    assert all(units(p, gsm7=False) <= 70 for p in parts)


def test_a_word_longer_than_one_sms_is_split_hard() -> None:
    parts = split_sms("x" * 400, max_parts=4)
    assert len(parts) == 3 and all(len(p) <= 160 for p in parts)
