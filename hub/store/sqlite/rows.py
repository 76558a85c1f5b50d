"""Column lists and row mappers of packages and deliveries on SQLite, shared by
:mod:`hub.store.sqlite.store` and :mod:`hub.store.sqlite.dashboard`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.models import DeliveryRecord, DeliveryState, PackageKind, PackageRecord
from hub.sqlitedb import from_db_time

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
        recipients=tuple(json.loads(recipients)),
        accepted_at=from_db_time(accepted_at),
        size=size,
        signer_fingerprint=fingerprint,
        signer_subject=subject,
        warnings=tuple(json.loads(warnings)),
        subject=title,
    )


def _delivery(row: Sequence[Any]) -> DeliveryRecord:
    package_id, recipient, state, attempts, updated_at, last_error, acked_at, stands_for = row
    return DeliveryRecord(
        package_id=package_id,
        recipient=recipient,
        state=DeliveryState(state),
        attempts=attempts,
        updated_at=from_db_time(updated_at),
        last_error=last_error,
        acked_at=from_db_time(acked_at) if acked_at is not None else None,
        stands_for=tuple(json.loads(stands_for)) if stands_for else (),
    )
