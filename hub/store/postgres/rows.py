"""Column lists, row mappers and query helpers of packages and deliveries on PostgreSQL,
shared by :mod:`hub.store.postgres.store` and :mod:`hub.store.postgres.dashboard`."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from hub.models import DeliveryRecord, DeliveryState, PackageKind, PackageRecord

Conn = psycopg.AsyncConnection[TupleRow]

_PACKAGE_COLUMNS = (
    "p.seq, p.id, p.sha256, p.sender, p.kind, p.document_id, p.business_doc_type, "
    "p.status_code, p.recipients, p.accepted_at, p.size, p.signer_fingerprint, "
    "p.signer_subject, p.warnings, p.subject"
)
_DELIVERY_COLUMNS = (
    "d.package_id, d.recipient, d.state, d.attempts, d.updated_at, d.last_error, d.acked_at, "
    "d.stands_for"
)
_N_PACKAGE_COLUMNS = 15

_dumps = functools.partial(json.dumps, ensure_ascii=False, default=str)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _package(row: Sequence[Any]) -> PackageRecord:
    (
        _seq,
        id_,
        sha256,
        sender,
        kind,
        document_id,
        business_doc_type,
        status_code,
        recipients,
        accepted_at,
        size,
        fingerprint,
        subject,
        warnings,
        title,
    ) = row
    return PackageRecord(
        id=id_,
        sha256=sha256,
        sender=sender,
        kind=PackageKind(kind),
        document_id=document_id,
        business_doc_type=business_doc_type,
        status_code=status_code,
        recipients=tuple(recipients),
        accepted_at=_utc(accepted_at),
        size=int(size),
        signer_fingerprint=fingerprint,
        signer_subject=subject,
        warnings=tuple(warnings),
        subject=title,
    )


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for = row
    return DeliveryRecord(
        package_id=package_id,
        recipient=recipient,
        state=DeliveryState(state),
        attempts=attempts,
        updated_at=_utc(updated_at),
        last_error=last_error,
        acked_at=_utc(acked_at) if acked_at is not None else None,
        stands_for=tuple(stands_for) if stands_for else (),
    )


async def _fetchone(conn: Conn, query: str, params: Sequence[Any] = ()) -> TupleRow | None:
    cur = await conn.execute(query, params)
    return await cur.fetchone()


async def _fetchall(conn: Conn, query: str, params: Sequence[Any] = ()) -> list[TupleRow]:
    cur = await conn.execute(query, params)
    return await cur.fetchall()
