"""The two state machines: a document per (document, recipient), a dossier per MaHoSo.

Both are tables of allowed transitions, so the rules are read in one place and the docs
(``docs/lifecycle.md``) can quote them. The functions here are pure: the engine
(:mod:`hub.lifecycle.engine`) reads the current state from the store, asks these tables, and
applies the move with a compare-and-set so two concurrent moves cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

NONE = "none"
"""A document delivered to a recipient that has answered nothing yet."""

RECIPIENT_CODES = frozenset({"01", "02", "03", "04", "05", "06", "15", "16"})
"""Status codes a document's recipient sends."""
AUTHOR_CODES = frozenset({"13"})
"""Status codes a document's author sends (take-back request)."""
ACK_CODES = frozenset({"01", "02", "03"})
"""Codes that acknowledge a document under ``strict`` (arrived, rejected, accepted)."""
ANSWER_CODES = RECIPIENT_CODES
"""Codes that set ``answered_at`` (the recipient answered the document): any code from the
recipient. Under ``strict`` the first one is always 01/02/03 (or 15/16 to a change document);
under ``compatible`` a recipient may start with 04/05/06, which proves reception just as well."""
PROGRESS_CODES = frozenset({"01", "02", "03", "04", "05", "06"})
"""Recipient codes that report progress (everything but the answers 15/16 to a take-back)."""
REPEATABLE = frozenset({"05"})
"""Codes ``compatible`` lets a recipient send more than once (progress reports)."""

Policy = Literal["compatible", "strict"]
"""How status codes are checked: ``compatible`` (default, what deployed systems accept) or
``strict`` (the numeric order of :data:`DOCUMENT_TRANSITIONS`)."""
POLICIES: tuple[Policy, ...] = ("compatible", "strict")

_DOC: Mapping[str, frozenset[str]] = {
    NONE: frozenset({"01", "02", "03", "13"}),
    "01": frozenset({"02", "03", "13"}),
    "02": frozenset(),  # rejected: the author sends a new document
    "03": frozenset({"04", "05", "06", "13"}),
    "04": frozenset({"05", "06", "13"}),
    "05": frozenset({"05", "06", "13"}),  # progress may be reported more than once
    "06": frozenset({"13"}),  # even a finished document may be asked back
    "13": frozenset({"15", "16"}),
    "15": frozenset(),  # taken back: terminal
    "16": frozenset({"04", "05", "06", "13"}),  # refused: processing goes on
}
DOCUMENT_TRANSITIONS: Mapping[str, frozenset[str]] = _DOC
"""state → codes allowed next, for a new document (BussinessDocType 0)."""

_CHANGE_ANSWERS = frozenset({"15", "16"})
"""A revocation, update or replacement (BussinessDocType 1/2/3) *is* the take-back request, so
its recipients may answer it 15/16 directly from any state where it is still open."""


def document_allowed(state: str, code: str, business_doc_type: int) -> bool:
    """Whether a document in ``state`` (for one recipient) may receive ``code``."""
    allowed = DOCUMENT_TRANSITIONS.get(state, frozenset())
    if business_doc_type in (1, 2, 3) and state not in ("02", "15", "16", "13"):
        allowed = allowed | _CHANGE_ANSWERS
    return code in allowed


@dataclass(frozen=True, slots=True)
class DocStep:
    """Where one status code takes a recipient's row: ``state`` after it and ``prior``, the
    state a ``16`` returns to (set while a ``13`` is pending, else ``None``)."""

    state: str
    prior: str | None = None


def document_step(
    policy: Policy,
    state: str,
    code: str,
    *,
    business_doc_type: int = 0,
    prior: str | None = None,
    sent: frozenset[str] = frozenset(),
) -> DocStep | None:
    """The row after ``code`` for a recipient in ``state``, or ``None`` (refused).

    ``prior``: the state before a pending ``13``; ``sent``: every code already recorded for this
    (document, recipient), by either side. ``strict`` is :func:`document_allowed`; it also
    remembers ``prior`` on a ``13`` so that a row may be answered under either policy.
    ``compatible`` (docs/lifecycle.md has the table):

    * ``15`` is final: nothing follows it;
    * the same code again (a code in ``sent``) is refused, except ``05``; this is the rule of
      Bkav's provincial hub (edoc-integrator refuses a status whose (From, ResponseFor, code)
      already has a trace, any time before, except 05), so a ``13`` asked again after a ``16``
      is refused too: the author sends a revocation (BussinessDocType 1) instead;
    * 01–06 in any order; while a ``13`` is pending the row stays ``13`` and the code becomes
      the state a ``16`` returns to;
    * ``13`` from any state but ``15``; ``15``/``16`` only while a ``13`` is pending, or once
      to a change document (BussinessDocType 1/2/3), which *is* the take-back request: ``15``
      ends the row, ``16`` returns it to the state before the ``13`` (or leaves it as it was).
    """
    if policy == "strict":
        if not document_allowed(state, code, business_doc_type):
            return None
        return DocStep(code, state if code == "13" else None)
    if state == "15" or (code in sent and code not in REPEATABLE):
        return None
    pending = state == "13"
    if code in PROGRESS_CODES:
        return DocStep("13", code) if pending else DocStep(code)
    if code == "13":
        return None if pending else DocStep("13", state)
    if code in _CHANGE_ANSWERS:
        if pending:
            return DocStep("15") if code == "15" else DocStep(prior or NONE)
        if business_doc_type in (1, 2, 3) and not sent & _CHANGE_ANSWERS:
            return DocStep("15") if code == "15" else DocStep(state)
    return None


# TrangThaiHoSo: 1 newly registered, 2 accepted, 3 not accepted, 4 processing, 5 supplement
# requested, 6 financial obligation, 7 withdrawal requested, 8 stopped, 9 processed, 10 returned.
_DOSSIER: Mapping[str, frozenset[str]] = {
    NONE: frozenset({"1", "2"}),  # a one-stop system may register and accept in one step
    "1": frozenset({"2", "3", "7"}),
    "2": frozenset({"4", "7", "8"}),
    "3": frozenset(),
    "4": frozenset({"5", "6", "7", "8", "9"}),
    "5": frozenset({"4", "7", "8"}),
    "6": frozenset({"4", "7", "8", "9"}),
    "7": frozenset({"8"}),  # withdrawal requested → the agency stops processing
    "8": frozenset(),
    "9": frozenset({"10"}),
    "10": frozenset(),
}
DOSSIER_TRANSITIONS: Mapping[str, frozenset[str]] = _DOSSIER
"""TrangThaiHoSo → states allowed next (``none``: no record yet)."""

DOSSIER_FINAL = frozenset({"3", "8", "9", "10"})
"""States after which a dossier can no longer be late (processed, returned, refused, stopped)."""
DOSSIER_ACCEPTED = frozenset({"2", "4", "5", "6", "7", "8", "9", "10"})
"""States that prove the dossier was accepted (reached 2 or beyond it)."""


def dossier_allowed(state: str, new: str) -> bool:
    """Whether a dossier in ``state`` may move to ``new``. Repeating the current state is
    allowed (a full record re-synchronised with ``isUpdating``, unchanged state)."""
    return new == state or new in DOSSIER_TRANSITIONS.get(state, frozenset())
