"""Reads that :mod:`hub.store.postgres.store` and :mod:`hub.store.postgres.dashboard` share, on
a connection of the caller's unit of work (the statements are in :mod:`hub.store.sql`)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.models import DeliveryRecord
from hub.store.postgres.dialect import POSTGRES, Conn, fetchall
from hub.store.sql import packages as pkg_sql


async def deliveries_of(conn: Conn, ids: Sequence[str]) -> dict[str, list[DeliveryRecord]]:
    """The deliveries of these packages, by package id (every id present)."""
    query = pkg_sql.deliveries_of_sql(POSTGRES)
    rows = await fetchall(conn, query, (POSTGRES.in_list(ids),)) if ids else []
    return pkg_sql.by_package(ids, rows, POSTGRES)
