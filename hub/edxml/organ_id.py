"""Agency identifier codes (mã định danh cơ quan), QCVN 102:2016 and Decision 20/2020/QĐ-TTg.

A code is written ``NNN.NN.NN.XNN`` and read right to left:

============  ==========  =================================================================
level         written as  meaning
============  ==========  =================================================================
1             ``XNN``     a letter and two digits: ``G22`` the Government Office, ``H41``
                          Nghệ An province, …
2             ``NN``      the third group
3             ``NN``      the second group
4             ``NNN``     the first group
============  ==========  =================================================================

A group of zeros means "no unit at this level": ``000.00.00.H41`` is the provincial People's
Committee itself. Zeroing the leftmost non-zero group gives the parent, so the parent of
``001.02.03.H41`` is ``000.02.03.H41``, then ``000.00.03.H41``, then ``000.00.00.H41`` (a
level-1 body, which has no parent). Gaps are allowed (``002.00.20.H13`` appears in real
traffic); its parent is ``000.00.20.H13``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["InvalidOrganId", "OrganId", "is_valid_organ_id"]

_ORGAN_ID = re.compile(r"(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})")


class InvalidOrganId(ValueError):
    """The text is not an agency identifier code of the form ``NNN.NN.NN.XNN``."""


@dataclass(frozen=True, slots=True, order=True)
class OrganId:
    """A parsed agency identifier code.

    Fields are the groups as written, most significant first (``level1`` is the ``XNN``
    group), so the natural ordering sorts a parent before its descendants and keeps
    siblings together.
    """

    level1: str
    level2: str
    level3: str
    level4: str

    @classmethod
    def parse(cls, text: str) -> OrganId:
        """Parse ``NNN.NN.NN.XNN`` exactly.

        No whitespace is stripped: callers that read codes from documents strip element text
        themselves, and a code with stray spaces inside a configuration file is a mistake
        worth reporting rather than guessing at. Digits must be ASCII.

        :raises InvalidOrganId: when ``text`` does not have that form.
        """
        m = _ORGAN_ID.fullmatch(text) if text.isascii() else None
        if m is None:
            raise InvalidOrganId(
                f"invalid agency identifier code {text!r}: expected NNN.NN.NN.XNN, "
                "e.g. 000.00.00.H41"
            )
        g4, g3, g2, g1 = m.groups()
        return cls(level1=g1, level2=g2, level3=g3, level4=g4)

    def __str__(self) -> str:
        return f"{self.level4}.{self.level3}.{self.level2}.{self.level1}"

    @property
    def level(self) -> int:
        """The deepest non-zero level, 1 (``000.00.00.H41``) to 4 (``001.02.03.H41``)."""
        if self.level4 != "000":
            return 4
        if self.level3 != "00":
            return 3
        if self.level2 != "00":
            return 2
        return 1

    @property
    def parent(self) -> OrganId | None:
        """The body one level up (the leftmost non-zero group zeroed), or ``None`` at level 1."""
        if self.level4 != "000":
            return OrganId(self.level1, self.level2, self.level3, "000")
        if self.level3 != "00":
            return OrganId(self.level1, self.level2, "00", "000")
        if self.level2 != "00":
            return OrganId(self.level1, "00", "00", "000")
        return None

    def is_ancestor_of(self, other: OrganId) -> bool:
        """True when ``self`` is a strict ancestor of ``other`` (never of itself)."""
        node = other.parent
        while node is not None:
            if node == self:
                return True
            node = node.parent
        return False


def is_valid_organ_id(text: str) -> bool:
    """True when ``text`` is exactly an agency identifier code (no surrounding whitespace)."""
    return text.isascii() and _ORGAN_ID.fullmatch(text) is not None
