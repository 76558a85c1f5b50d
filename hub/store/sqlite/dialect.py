"""SQLite's :class:`~hub.store.sql.dialect.Dialect`: times as fixed-width ISO text, booleans as
``0``/``1``, JSON as text, id lists as a JSON array read by ``json_each``, and ``INDEXED BY``
hints (the planner has no statistics to find a partial index by itself)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.sqlitedb import from_db_time, to_db_time
from hub.store.sql.dialect import Dialect


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _json_each(column: str) -> str:
    return f"{column} IN (SELECT value FROM json_each(?))"  # noqa: S608 (a column name)


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


SQLITE = Dialect(
    placeholder="?",
    time_in=to_db_time,
    time_out=from_db_time,
    bool_in=int,
    json_in=_json_text,
    json_out=json.loads,
    any_of=_json_each,
    in_list=_json_list,
    index_hints=True,
)
