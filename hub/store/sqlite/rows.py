"""Reads that :mod:`hub.store.sqlite.store` and :mod:`hub.store.sqlite.dashboard` share, on a
connection of the writer or reader thread (the statements are in :mod:`hub.store.sql`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hub.models import DeliveryRecord
from hub.store.sql import packages as pkg_sql
from hub.store.sqlite.dialect import SQLITE


def deliveries_of(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, list[DeliveryRecord]]:
    """The deliveries of these packages, by package id (every id present)."""
    rows = (
        conn.execute(pkg_sql.deliveries_of_sql(SQLITE), (SQLITE.in_list(ids),)).fetchall()
        if ids
        else []
    )
    return pkg_sql.by_package(ids, rows, SQLITE)
