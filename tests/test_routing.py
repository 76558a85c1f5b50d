"""Routing and sub-units (issue 10): the ancestor walk, folding into representatives, rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import AgencyConfig, ConfigError, RouteRule, load_agencies
from hub.errors import RouteForbidden, UnknownRecipient
from hub.models import AgencyOverride
from hub.registry import Registry
from hub.routing import Route, resolve, route

G22, H29, H41 = "000.00.00.G22", "000.00.00.H29", "000.00.00.H41"
H29_DEPT, H29_DEPT2 = "000.00.13.H29", "000.00.14.H29"  # departments of Hà Nội (unregistered)
H29_COMMUNE = "001.02.13.H29"  # below H29_DEPT, three levels under H29
H41_HOME = "000.00.01.H41"  # a registered department of Nghệ An (represents itself)


def agency(organ_id: str, **kw: object) -> AgencyConfig:
    return AgencyConfig(organ_id=organ_id, name=organ_id, **kw)  # type: ignore[arg-type]


def registry(*agencies: AgencyConfig) -> Registry:
    default = (
        agency(G22, represents="descendants"),
        agency(H29, represents="descendants"),
        agency(H41, represents="descendants"),
        agency(H41_HOME),
    )
    return Registry({a.organ_id: a for a in (agencies or default)})


def resolved(addressed: tuple[str, ...], reg: Registry | None = None, **kw: object) -> Route:
    return resolve(
        kind=str(kw.get("kind", "document")),
        sender=str(kw.get("sender", G22)),
        addressed=addressed,
        registry=reg or registry(),
        rules=kw.get("rules", ()),  # type: ignore[arg-type]
    )


# -- the registry's ancestor walk --------------------------------------------------------------


def test_representative_is_the_nearest_registered_ancestor_that_represents() -> None:
    reg = registry()
    assert reg.representative(H29_DEPT) == H29
    assert reg.representative(H29_COMMUNE) == H29  # two unregistered levels walked
    assert reg.representative("000.00.02.H41") == H41
    assert reg.representative(H29) is None  # registered: itself
    assert reg.representative(H41_HOME) is None  # registered sub-unit: never folded
    assert reg.representative("000.00.00.H99") is None  # no ancestor at all
    assert reg.representative("not a code") is None


def test_nearest_registered_ancestor_decides() -> None:
    # 000.00.01.H41 is registered and represents only itself: its children are nobody's,
    # the walk does not skip it to reach the province.
    reg = registry()
    assert reg.representative("001.00.01.H41") is None
    reg = registry(
        agency(H41, represents="descendants"),
        agency(H41_HOME, represents="descendants"),
    )
    assert reg.representative("001.00.01.H41") == H41_HOME


def test_self_and_disabled_represent_nobody() -> None:
    assert registry(agency(H29, represents="self")).representative(H29_DEPT) is None
    reg = registry()
    reg.apply([AgencyOverride(organ_id=H29, enabled=False)])
    assert reg.representative(H29_DEPT) is None


def test_speaks_for_descendants_only() -> None:
    reg = registry()
    assert reg.speaks_for(H29, H29)
    assert reg.speaks_for(H29, H29_DEPT)
    assert reg.speaks_for(H29, H29_COMMUNE)
    assert not reg.speaks_for(H41, H29_DEPT)  # another province
    assert not reg.speaks_for(H41_HOME, H41)  # a child never for its parent
    assert not reg.speaks_for(H41, H41_HOME)  # a registered sub-unit speaks for itself
    assert not reg.speaks_for(H29_DEPT, "001.00.13.H29")  # unregistered caller: nobody


def test_signer_bound_for_a_subunit_is_the_representatives_certificate() -> None:
    reg = registry(
        agency(H29, represents="descendants", cert_sha256=("aa" * 32,)),
        agency(H41, represents="descendants", cert_sha256=("bb" * 32,)),
    )
    assert reg.signer_bound_for(H29_DEPT, "AA" * 32)
    assert not reg.signer_bound_for(H29_DEPT, "bb" * 32)
    assert not reg.signer_bound(H29_DEPT, "aa" * 32)  # the plain binding is unchanged


# -- resolve -----------------------------------------------------------------------------------


def test_subunit_is_delivered_to_its_representative() -> None:
    found = resolved((H29_DEPT,))
    assert found.recipients == (H29,)
    assert found.stands_for == {H29: (H29_DEPT,)}
    assert found.parties() == (H29_DEPT,)  # the lifecycle keeps the sub-unit's state


def test_two_subunits_of_one_ancestor_make_one_delivery() -> None:
    found = resolved((H29_DEPT, H41, H29_COMMUNE))
    assert found.recipients == (H29, H41)
    assert found.stands_for == {H29: (H29_DEPT, H29_COMMUNE)}
    assert found.parties() == (H29_DEPT, H29_COMMUNE, H41)


def test_ancestor_addressed_too_is_one_delivery_in_both_capacities() -> None:
    found = resolved((H29_DEPT, H29))
    assert found.recipients == (H29,)
    assert found.stands_for == {H29: (H29_DEPT,)}
    assert found.parties() == (H29, H29_DEPT)


def test_registered_subunit_gets_its_own_delivery() -> None:
    found = resolved((H41_HOME, "000.00.02.H41"))
    assert found.recipients == (H41_HOME, H41)
    assert found.stands_for == {H41: ("000.00.02.H41",)}


def test_unknown_without_representative_is_refused() -> None:
    with pytest.raises(UnknownRecipient) as info:
        resolved((H29_DEPT,), registry(agency(H29, represents="self")))
    assert info.value.extra["recipients"] == [H29_DEPT]
    with pytest.raises(UnknownRecipient):
        resolved(("000.00.00.H99",))


def test_disabled_registered_subunit_is_refused_not_folded() -> None:
    reg = registry()
    reg.apply([AgencyOverride(organ_id=H41_HOME, enabled=False)])
    with pytest.raises(UnknownRecipient) as info:
        resolved((H41_HOME,), reg)
    assert info.value.extra["recipients"] == [H41_HOME]


def test_copy_rules_apply_to_original_codes_and_copies_fold_too() -> None:
    rules = (RouteRule(action="copy", recipient=f"under:{H29}", add=(H29_DEPT2,), name="c"),)
    found = resolved((H29_DEPT,), rules=rules)
    assert found.recipients == (H29,)
    assert found.stands_for == {H29: (H29_DEPT, H29_DEPT2)}


def test_forbid_rules_match_the_original_code_and_the_representative() -> None:
    forbid_sub = (RouteRule(action="forbid", recipient=H29_DEPT, name="no-dept"),)
    with pytest.raises(RouteForbidden) as info:
        resolved((H29_DEPT,), rules=forbid_sub)
    assert info.value.extra["recipients"] == [H29_DEPT]
    forbid_rep = (RouteRule(action="forbid", recipient=H29, name="no-h29"),)
    with pytest.raises(RouteForbidden) as info:
        resolved((H29_DEPT,), rules=forbid_rep)
    assert info.value.extra["recipients"] == [H29]


def test_route_keeps_its_old_answer() -> None:
    assert route(
        kind="document", sender=G22, addressed=(H29_DEPT, H41), registry=registry(), rules=()
    ) == (H29, H41)


# -- configuration ---------------------------------------------------------------------------


def _write_agencies(tmp_path: Path, body: str) -> Path:
    (tmp_path / "agencies.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_represents_defaults_by_level_and_is_checked(tmp_path: Path) -> None:
    agencies = load_agencies(
        _write_agencies(
            tmp_path,
            f'[[agency]]\norgan_id = "{H29}"\n\n'
            f'[[agency]]\norgan_id = "{H41}"\nrepresents = "self"\n\n'
            f'[[agency]]\norgan_id = "{H41_HOME}"\n\n'
            f'[[agency]]\norgan_id = "000.00.02.H41"\nrepresents = "descendants"\n',
        )
    )
    assert {k: a.represents for k, a in agencies.items()} == {
        H29: "descendants",  # level 1: the default
        H41: "self",
        H41_HOME: "self",  # below level 1: the default
        "000.00.02.H41": "descendants",
    }
    with pytest.raises(ConfigError, match="represents"):
        load_agencies(
            _write_agencies(tmp_path, f'[[agency]]\norgan_id = "{H29}"\nrepresents = "all"\n')
        )
