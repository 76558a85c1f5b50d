"""The document machines of both policies, transition by transition.

The expected tables below are the ones of ``docs/lifecycle.md``, written out here by hand (not
derived from :mod:`hub.lifecycle.machines`): every (state, code) pair of both policies is
asserted, for a new document (BussinessDocType 0) and for a change document (1/2/3).

In these tables the row has recorded exactly the code of its state (``sent`` = {state}), which
is what a row reached by one code looks like; the repeat rule over longer histories, the 13 →
16 return and the pending 13 have their own tests.
"""

from __future__ import annotations

import pytest

from hub.lifecycle.machines import NONE, DocStep, Policy, document_step

STATES = (NONE, "01", "02", "03", "04", "05", "06", "13", "15", "16")
CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
PRIOR = "03"  # the state before the pending 13 in the tables (the row at 13)

# state → {code: state after}; a code not listed is refused (409). "P": back to PRIOR.
STRICT: dict[str, dict[str, str]] = {
    NONE: {"01": "01", "02": "02", "03": "03", "13": "13"},
    "01": {"02": "02", "03": "03", "13": "13"},
    "02": {},
    "03": {"04": "04", "05": "05", "06": "06", "13": "13"},
    "04": {"05": "05", "06": "06", "13": "13"},
    "05": {"05": "05", "06": "06", "13": "13"},
    "06": {"13": "13"},
    "13": {"15": "15", "16": "16"},
    "15": {},
    "16": {"04": "04", "05": "05", "06": "06", "13": "13"},
}
# A change document (BussinessDocType 1/2/3) may be answered 15/16 directly under strict.
STRICT_CHANGE_EXTRA = {
    s: {"15": "15", "16": "16"} for s in (NONE, "01", "03", "04", "05", "06")
}  # fmt: skip

_ALL_PROGRESS = {c: c for c in ("01", "02", "03", "04", "05", "06")}


def _compatible_open(state: str) -> dict[str, str]:
    """A state neither pending nor final: every progress code but a repeat, and 13."""
    out = {c: c for c in _ALL_PROGRESS if c != state or c == "05"}
    out["13"] = "13"
    return out


COMPATIBLE: dict[str, dict[str, str]] = {
    NONE: {**_ALL_PROGRESS, "13": "13"},
    "01": {"02": "02", "03": "03", "04": "04", "05": "05", "06": "06", "13": "13"},
    "02": {"01": "01", "03": "03", "04": "04", "05": "05", "06": "06", "13": "13"},
    "03": {"01": "01", "02": "02", "04": "04", "05": "05", "06": "06", "13": "13"},
    "04": {"01": "01", "02": "02", "03": "03", "05": "05", "06": "06", "13": "13"},
    "05": {"01": "01", "02": "02", "03": "03", "04": "04", "05": "05", "06": "06", "13": "13"},
    "06": {"01": "01", "02": "02", "03": "03", "04": "04", "05": "05", "13": "13"},
    # 13 pending: progress is recorded as the state to return to; the row stays 13.
    "13": {**{c: "13" for c in _ALL_PROGRESS}, "15": "15", "16": "P"},
    "15": {},
    # 16 as a state is strict's; compatible treats it as an open state (no pending 13).
    "16": {"01": "01", "02": "02", "03": "03", "04": "04", "05": "05", "06": "06", "13": "13"},
}
# A change document is itself the take-back request: one 15/16, 16 leaves the state as it is.
COMPATIBLE_CHANGE_EXTRA = {
    s: {"15": "15", "16": s} for s in (NONE, "01", "02", "03", "04", "05", "06")
}  # fmt: skip


def _expected(policy: Policy, state: str, code: str, bdt: int) -> str | None:
    table = STRICT if policy == "strict" else COMPATIBLE
    extra = STRICT_CHANGE_EXTRA if policy == "strict" else COMPATIBLE_CHANGE_EXTRA
    allowed = dict(table[state])
    if bdt:
        allowed.update(extra.get(state, {}))
    got = allowed.get(code)
    return PRIOR if got == "P" else got


def test_compatible_table_is_the_open_rule() -> None:
    for state in ("01", "02", "03", "04", "05", "06"):
        assert COMPATIBLE[state] == _compatible_open(state)


@pytest.mark.parametrize("bdt", [0, 1, 2, 3])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("policy", ["compatible", "strict"])
def test_every_state_and_code(policy: Policy, state: str, code: str, bdt: int) -> None:
    sent = frozenset() if state == NONE else frozenset({state})
    prior = PRIOR if state == "13" else None
    step = document_step(policy, state, code, business_doc_type=bdt, prior=prior, sent=sent)
    expected = _expected(policy, state, code, bdt)
    assert (step.state if step else None) == expected, (policy, state, code, bdt)
    if step is not None and code == "13":
        assert step.prior == state  # both policies remember where a 16 returns to
    if step is not None and state == "13" and code not in ("15", "16"):
        assert step.prior == code  # progress while 13 is pending: the new place to return to


def test_compatible_same_code_again_means_any_code_already_sent() -> None:
    # The recipient went 01 → 03 → 05: none of these again, except 05; 04/06/02 still fine.
    sent = frozenset({"01", "03", "05"})
    for code, ok in [("01", False), ("03", False), ("05", True), ("04", True), ("02", True)]:
        step = document_step("compatible", "05", code, sent=sent)
        assert (step is not None) == ok, code


def test_compatible_take_back_refused_returns_and_cannot_be_asked_again() -> None:
    # 01, then the author's 13, the recipient's 16: back to 01; then 03 and 02 are fine.
    s1 = document_step("compatible", "01", "13", sent=frozenset({"01"}))
    assert s1 == DocStep("13", "01")
    s2 = document_step("compatible", "13", "16", prior="01", sent=frozenset({"01", "13"}))
    assert s2 == DocStep("01")
    sent = frozenset({"01", "13", "16"})
    assert document_step("compatible", "01", "03", sent=sent) == DocStep("03")
    assert document_step("compatible", "01", "02", sent=sent) == DocStep("02")
    # The same 13 again after a 16 is refused (a revocation is the way to insist) …
    assert document_step("compatible", "01", "13", sent=sent) is None
    # … and 15/16 without a pending 13 too.
    assert document_step("compatible", "01", "15", sent=sent) is None
    assert document_step("compatible", "01", "16", sent=sent) is None


def test_compatible_15_is_final_and_16_needs_a_pending_13() -> None:
    sent = frozenset({"03", "13", "15"})
    for code in CODES:
        assert document_step("compatible", "15", code, sent=sent) is None
    assert document_step("compatible", "03", "15", sent=frozenset({"03"})) is None
    assert document_step("compatible", NONE, "16") is None


def test_compatible_16_without_known_prior_returns_to_none() -> None:
    # A row asked back before migration 0008 whose history had no 13 (not expected, but safe).
    assert document_step("compatible", "13", "16", sent=frozenset({"13"})) == DocStep(NONE)


def test_compatible_change_document_answered_once() -> None:
    # A revocation answered 16 stays where it was and cannot be answered 15/16 again …
    assert document_step("compatible", "01", "16", business_doc_type=1,
                         sent=frozenset({"01"})) == DocStep("01")  # fmt: skip
    sent = frozenset({"01", "16"})
    assert document_step("compatible", "01", "15", business_doc_type=1, sent=sent) is None
    # … unless its author asks again with a 13 (a 13 never sent for this revocation).
    assert document_step("compatible", "01", "13", business_doc_type=1, sent=sent) == DocStep(
        "13", "01"
    )
    assert document_step(
        "compatible", "13", "15", business_doc_type=1, prior="01", sent=sent | {"13"}
    ) == DocStep("15")


def test_strict_remembers_prior_so_a_compatible_16_can_return() -> None:
    # A strict author's 13 from 05, answered 16 by a recipient on compatible: back to 05.
    step = document_step("strict", "05", "13", sent=frozenset({"03", "05"}))
    assert step == DocStep("13", "05")
    assert document_step(
        "compatible", "13", "16", prior=step.prior, sent=frozenset({"03", "05", "13"})
    ) == DocStep("05")
