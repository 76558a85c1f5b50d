"""Text helpers for comparing and searching Vietnamese text (no dependency on the rest of hub).

Two different equivalences, for two different jobs:

* :func:`nfc` — *canonical* equivalence, for keys (DocumentId, MaHoSo, codes): ``"Quyết"``
  typed precomposed (NFC) and ``"Quyê\\u0301t"`` (NFD, as some Mac and Java tool chains
  produce) are the same key. Only keys are normalised; the signed bytes never are.
* :func:`fold` / :func:`words` — *search* equivalence, for free text (Subject): also ignores
  diacritics and case, so ``"Quyết định"`` and ``"quyet dinh"`` find each other.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "nfc", "nfc_or_none", "words"]

#: đ/Đ are letters of their own, not d + a combining mark: NFD leaves them whole.
_DD = str.maketrans({"đ": "d", "Đ": "D"})
#: A word: letters and digits (``_`` and punctuation separate words).
_WORD = re.compile(r"[^\W_]+")


def nfc(text: str) -> str:
    """NFC form of ``text``, for comparisons and indexes only (never store it instead of
    signed content)."""
    return unicodedata.normalize("NFC", text)


def nfc_or_none(text: str | None) -> str | None:
    """:func:`nfc`, passing ``None`` through (absent keys)."""
    return None if text is None else unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Search form: NFD, combining marks dropped, ``đ``→``d``, case folded.

    ``fold("Quyết Định")`` is ``"quyet dinh"``, whatever the input's normal form.
    """
    decomposed = unicodedata.normalize("NFD", text.translate(_DD))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # casefold after dropping marks; NFC again so anything left composes the same way.
    return unicodedata.normalize("NFC", bare.casefold())


def words(text: str) -> tuple[str, ...]:
    """The folded words of ``text``, in order, duplicates removed."""
    return tuple(dict.fromkeys(_WORD.findall(fold(text))))
