"""hub.text: NFC keys and the search fold, with real Vietnamese."""

from __future__ import annotations

import unicodedata

import pytest

from hub.text import fold, nfc, nfc_or_none, words


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# Every vowel with every tone (ngang, huyền, sắc, hỏi, ngã, nặng), upper and lower case.
VOWELS = {
    "a": "aàáảãạ ăằắẳẵặ âầấẩẫậ",
    "e": "eèéẻẽẹ êềếểễệ",
    "i": "iìíỉĩị",
    "o": "oòóỏõọ ôồốổỗộ ơờớởỡợ",
    "u": "uùúủũụ ưừứửữự",
    "y": "yỳýỷỹỵ",
}


@pytest.mark.parametrize("base", sorted(VOWELS))
def test_every_tone_mark_folds_to_the_bare_vowel(base: str) -> None:
    for letter in VOWELS[base].replace(" ", ""):
        for form in (letter, letter.upper(), nfd(letter), nfd(letter.upper())):
            assert fold(form) == base, (form, fold(form))


def test_d_with_stroke_is_d() -> None:
    assert fold("đ") == "d" and fold("Đ") == "d"
    assert fold("ĐỒNG ĐẲNG") == "dong dang"
    # NFD leaves đ whole (it is not d + a mark): folding must still turn it into d.
    assert nfd("đ") == "đ" and fold(nfd("Đường")) == "duong"


def test_subject_with_and_without_diacritics_mixed_case_and_nfd() -> None:
    subject = "Quyết định về việc ban hành Quy chế phối hợp — Ủy ban nhân dân tỉnh Đắk Lắk"
    expected = (
        "quyet",
        "dinh",
        "ve",
        "viec",
        "ban",
        "hanh",
        "quy",
        "che",
        "phoi",
        "hop",
        "uy",
        "nhan",
        "dan",
        "tinh",
        "dak",
        "lak",
    )
    assert words(subject) == expected  # "ban" once: duplicates dropped
    assert words(nfd(subject)) == expected
    assert words(subject.upper()) == expected
    assert words("QUYET dinh") == ("quyet", "dinh")
    assert fold("Quyết định") == fold("quyet dinh") == fold(nfd("QUYẾT ĐỊNH"))


def test_words_split_on_punctuation_and_underscore_keep_digits() -> None:
    assert words("Công văn số 123/UBND-VP_ngày 02/3/2026") == (
        "cong",
        "van",
        "so",
        "123",
        "ubnd",
        "vp",
        "ngay",
        "02",
        "3",
        "2026",
    )
    assert words(" — ; ") == ()


def test_nfc_is_canonical_equivalence_only() -> None:
    key = "000.00.00.G22,2026/03/02,12/QĐ-Bộ Tư pháp"
    assert nfd(key) != key
    assert nfc(nfd(key)) == nfc(key) == key
    assert nfc("Quyết") != nfc("quyet")  # NFC keeps case and diacritics: keys stay exact
    assert nfc_or_none(None) is None and nfc_or_none(nfd("Hà")) == "Hà"
