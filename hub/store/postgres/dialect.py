"""PostgreSQL's :class:`~hub.store.sql.dialect.Dialect` (``%s`` placeholders, ``timestamptz``,
``boolean``, ``jsonb``, id lists as ``text[]``) and what every PostgreSQL backend module runs
statements with."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from hub.store.sql.dialect import Dialect, aware, utc

Conn = psycopg.AsyncConnection[TupleRow]
#: A store's ``_read``/``_write``: run a unit of work on a pooled connection, mapping failures.
Runner = Callable[[str, Callable[[Conn], Awaitable[Any]]], Awaitable[Any]]

dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dumps)


def _same(value: Any) -> Any:
    return value


def _any_text(column: str) -> str:
    return f"{column} = ANY(?::text[])"


def _text_list(values: Sequence[str]) -> list[str]:
    return list(values)


POSTGRES = Dialect(
    placeholder="%s",
    time_in=aware,
    time_out=utc,
    bool_in=bool,
    json_in=_jsonb,
    json_out=_same,
    any_of=_any_text,
    in_list=_text_list,
    index_hints=False,
)


async def fetchone(conn: Conn, query: str, params: Sequence[Any] = ()) -> TupleRow | None:
    """The first row of ``query`` (written with ``%s``), if any."""
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def fetchall(conn: Conn, query: str, params: Sequence[Any] = ()) -> list[TupleRow]:
    """Every row of ``query`` (written with ``%s``)."""
    cur = await conn.execute(query, params)
    return await cur.fetchall()
