"""What a backend tells the shared SQL: placeholders and value representations.

Each backend defines its one :class:`Dialect` (``hub/store/sqlite/dialect.py``,
``hub/store/postgres/dialect.py``); the shared statements, row mappers and parameter builders
of :mod:`hub.store.sql` take it instead of branching on the backend's name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def pg(text: str) -> str:
    """A statement written with ``?`` placeholders, in psycopg's ``%s`` style."""
    return text.replace("?", "%s")


def aware(value: datetime) -> datetime:
    """A time bound for PostgreSQL: naive times are refused (as the SQLite store does) rather
    than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
    return value


def utc(value: datetime) -> datetime:
    """A ``timestamptz`` read from PostgreSQL, in UTC (as the SQLite backend returns it)."""
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one backend binds and stores what the shared SQL leaves open."""

    #: ``"?"`` (SQLite) or ``"%s"`` (psycopg).
    placeholder: str
    #: A timezone-aware time as bound (ISO text on SQLite, the datetime on PostgreSQL);
    #: ``ValueError`` for a naive one.
    time_in: Callable[[datetime], Any]
    #: A stored time as read, in UTC.
    time_out: Callable[[Any], datetime]
    #: A boolean as bound (``0``/``1`` on SQLite).
    bool_in: Callable[[bool], Any]
    #: A JSON value as bound (text on SQLite, ``jsonb`` on PostgreSQL).
    json_in: Callable[[Any], Any]
    #: A JSON column as read (text on SQLite, already decoded by psycopg).
    json_out: Callable[[Any], Any]
    #: ``column`` is one of a bound list of ids (see :meth:`in_list`).
    any_of: Callable[[str], str]
    #: The bound value for :attr:`any_of`'s placeholder.
    in_list: Callable[[Sequence[str]], Any]
    #: Whether ``INDEXED BY`` hints are written (SQLite's planner has no statistics to find
    #: a partial index by itself).
    index_hints: bool

    def sql(self, text: str) -> str:
        """``text`` (written with ``?``) in this dialect's placeholders; text already in them
        is returned as it is, so a builder's output may pass through again."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def indexed_by(self, index: str) -> str:
        """``INDEXED BY index `` where the dialect takes hints, else nothing."""
        return f"INDEXED BY {index} " if self.index_hints else ""

    def time_or_none(self, value: Any) -> datetime | None:
        """:attr:`time_out` of a nullable column."""
        return None if value is None else self.time_out(value)
