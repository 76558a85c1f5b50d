"""Agency identifier codes NNN.NN.NN.XNN."""

from __future__ import annotations

import pytest

from hub.edxml import InvalidOrganId, OrganId, is_valid_organ_id

# text, level, parent
TABLE = [
    ("000.00.00.H41", 1, None),
    ("000.00.00.G22", 1, None),
    ("000.00.03.H41", 2, "000.00.00.H41"),
    ("000.02.03.H41", 3, "000.00.03.H41"),
    ("001.02.03.H41", 4, "000.02.03.H41"),
    ("002.00.20.H13", 4, "000.00.20.H13"),  # a gap, seen in real traffic
    ("000.01.00.G17", 3, "000.00.00.G17"),
]

INVALID = [
    "",
    "000.00.00.h41",  # lower-case letter
    "00.00.00.H41",
    "000.00.00.H4",
    "000.00.00.HH1",
    "000.0.00.H41",
    "01.02.G22",  # seen in a real (malformed) package
    " 000.00.00.H41",  # no stripping
    "000.00.00.H41\n",
    "000,00,00,H41",
    "٠٠٠.٠٠.٠٠.H41",  # non-ASCII digits
    "000.00.00.H41.1",
]


@pytest.mark.parametrize(("text", "level", "parent"), TABLE)
def test_parse_level_parent(text: str, level: int, parent: str | None) -> None:
    oid = OrganId.parse(text)
    assert str(oid) == text
    assert oid.level == level
    assert (str(oid.parent) if oid.parent else None) == parent
    assert is_valid_organ_id(text)


def test_groups_read_right_to_left() -> None:
    oid = OrganId.parse("001.02.03.H41")
    assert (oid.level1, oid.level2, oid.level3, oid.level4) == ("H41", "03", "02", "001")


def test_parent_chain_to_the_province() -> None:
    chain = []
    node: OrganId | None = OrganId.parse("001.02.03.H41")
    while node is not None:
        chain.append(str(node))
        node = node.parent
    assert chain == ["001.02.03.H41", "000.02.03.H41", "000.00.03.H41", "000.00.00.H41"]


def test_is_ancestor_of() -> None:
    province = OrganId.parse("000.00.00.H41")
    dept = OrganId.parse("000.00.03.H41")
    unit = OrganId.parse("001.02.03.H41")
    assert province.is_ancestor_of(unit)
    assert dept.is_ancestor_of(unit)
    assert not unit.is_ancestor_of(province)
    assert not unit.is_ancestor_of(unit)
    assert not OrganId.parse("000.00.00.H14").is_ancestor_of(unit)
    assert not OrganId.parse("000.00.04.H41").is_ancestor_of(unit)


def test_ordering_puts_parents_first_and_groups_by_province() -> None:
    ids = [
        OrganId.parse(t)
        for t in ["001.02.03.H41", "000.00.00.H41", "000.00.03.H41", "000.00.00.G22"]
    ]
    assert [str(i) for i in sorted(ids)] == [
        "000.00.00.G22",
        "000.00.00.H41",
        "000.00.03.H41",
        "001.02.03.H41",
    ]


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    assert not is_valid_organ_id(text)
    with pytest.raises(InvalidOrganId, match=r"NNN\.NN\.NN\.XNN"):
        OrganId.parse(text)
    assert issubclass(InvalidOrganId, ValueError)


def test_frozen_and_hashable() -> None:
    oid = OrganId.parse("000.00.00.H41")
    assert {oid, OrganId.parse("000.00.00.H41")} == {oid}
    with pytest.raises(AttributeError):
        oid.level1 = "G22"  # type: ignore[misc]
