"""The Subject search index, shared by the store backends and their dashboards.

A package row keeps ``subject_terms``: its Subject's folded words (:func:`hub.text.words`),
space-separated with a space at both ends, so "the word *w* occurs" is ``LIKE '% w %'`` in
either SQL dialect. Folded words hold only letters and digits, so they never contain a
``LIKE`` wildcard and need no escaping.
The in-memory store (:mod:`hub.store.memory`) keeps the same column and runs the same test
in Python (:func:`terms_match` over :func:`query_tokens`).

With encryption at rest on (:mod:`hub.storage_crypto`), Subject is content: the row then
keeps neither the Subject nor its words, only each word's keyed hash
(:meth:`~hub.storage_crypto.BlobCipher.index_tokens`, HMAC-SHA256 under a key derived from
the storage key). The search is the same — whole folded words, all of them — only the
tokens differ. See ``docs/audit-and-evidence.md`` ("Subject search index").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.text import words

if TYPE_CHECKING:
    from hub.storage_crypto import BlobCipher

#: More words than this in one query is refused (each word is one ``LIKE`` per key).
MAX_QUERY_WORDS = 16


def stored_subject(subject: str | None, cipher: BlobCipher | None) -> str | None:
    """What the row keeps to display: the Subject as sent, or nothing when encrypted."""
    return subject if cipher is None else None


def subject_terms(subject: str | None, cipher: BlobCipher | None) -> str | None:
    """The ``subject_terms`` value of a new row (``None``: no Subject, no word)."""
    found = words(subject or "")
    if not found:
        return None
    terms = found if cipher is None else tuple(cipher.index_tokens(w)[0] for w in found)
    return f" {' '.join(terms)} "


def query_tokens(query: str | None, cipher: BlobCipher | None) -> list[tuple[str, ...]]:
    """What a Subject search asks for: per folded word of ``query``, the index tokens of which
    one must be a whole word of the row's ``subject_terms`` (the word itself, or its keyed
    hashes under every configured key). ``[]``: no letter or digit, no filter.
    ``ValueError`` past :data:`MAX_QUERY_WORDS` words."""
    wanted = words(query or "")
    if len(wanted) > MAX_QUERY_WORDS:
        raise ValueError(f"at most {MAX_QUERY_WORDS} words in a subject search")
    return [(word,) if cipher is None else cipher.index_tokens(word) for word in wanted]


def subject_filter(
    query: str | None, cipher: BlobCipher | None, *, column: str, placeholder: str
) -> tuple[str, list[str]]:
    """A ``WHERE`` fragment (``""``: no filter) and its parameters: every folded word of
    ``query`` must be a whole word of the row's Subject.

    A query without any letter or digit does not filter. ``ValueError`` past
    :data:`MAX_QUERY_WORDS` words.
    """
    clauses: list[str] = []
    params: list[str] = []
    for tokens in query_tokens(query, cipher):
        clauses.append("(" + " OR ".join(f"{column} LIKE {placeholder}" for _ in tokens) + ")")
        params.extend(f"% {t} %" for t in tokens)
    return " AND ".join(clauses), params


def terms_match(terms: str | None, wanted: list[tuple[str, ...]]) -> bool:
    """Whether a row's ``subject_terms`` satisfies :func:`query_tokens`' ``wanted`` — the
    same test as :func:`subject_filter`'s SQL, for a store that keeps rows in memory
    (:mod:`hub.store.memory`). A row without words matches only an empty query."""
    if not wanted:
        return True
    if terms is None:
        return False
    return all(any(f" {t} " in terms for t in tokens) for tokens in wanted)
