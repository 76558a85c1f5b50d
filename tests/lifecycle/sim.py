"""An in-process harness for the lifecycle step: packages as verified models (no signing, so
thousands fit in seconds), through :class:`hub.lifecycle.engine.Lifecycle` and a real store,
with the package rows committed as ingest would (``last_activity`` reads them)."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hub.dossier import DossierHeader, DossierPackage, HoSo, TienDo, format_dvc_time
from hub.edxml import EdxmlPackage
from hub.edxml.models import Business, MessageHeader, Organ, ResponseFor, StatusCode
from hub.lifecycle.engine import Lifecycle
from hub.lifecycle.step import PlanInput
from hub.models import NewPackage, PackageKind
from hub.pipeline.checks import Checked, Summary, _dossier_summary, _edxml_summary
from hub.pipeline.ingest import lifecycle_input
from hub.store import Store
from hub.store.abc import AcceptItem


@dataclass
class ManualClock:
    """A clock the test moves."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


_counter = itertools.count(1)


def checked_of(pkg: EdxmlPackage | DossierPackage) -> Checked:
    """A :class:`Checked` as the verification step would return it (unique sha256)."""
    summary: Summary = (
        _edxml_summary(pkg) if isinstance(pkg, EdxmlPackage) else _dossier_summary(pkg)
    )
    n = next(_counter)
    return Checked(
        sha256=hashlib.sha256(f"{n}:{summary}".encode()).hexdigest(),
        size=100,
        package=pkg,
        summary=summary,
        signer_fingerprint="f" * 64,
        signer_subject="CN=test",
        signer_not_after=datetime(2030, 1, 1, tzinfo=UTC),
        signature_method="rsa-sha256",
        legacy_signature=False,
    )


def document(sender: str, to: tuple[str, ...], document_id: str, bdt: int = 0,
             original: str | None = None) -> EdxmlPackage:  # fmt: skip
    """A document package model."""
    return EdxmlPackage(
        header=MessageHeader(
            from_=Organ(organ_id=sender),
            to=tuple(Organ(organ_id=t) for t in to),
            document_id=document_id,
        ),
        business=Business(business_doc_type=bdt, document_id=original) if bdt or original else None,
    )


def status(sender: str, other: str, document_id: str, code: str) -> EdxmlPackage:
    """A status package model (``other``: ResponseFor/OrganId)."""
    return EdxmlPackage(
        header=MessageHeader(
            from_=Organ(organ_id=sender),
            response_for=ResponseFor(organ_id=other, document_id=document_id),
            status_code=StatusCode(code),
        )
    )


def dossier(sender: str, to: tuple[str, ...], ma: str, tthc: str, state: str, *,
            online: bool, due: datetime | None) -> DossierPackage:  # fmt: skip
    """A dossier record model."""
    return DossierPackage(
        header=DossierHeader(
            package_id=f"p-{ma}", from_=sender, to=to, kind="dossier", created_at="20260101000000"
        ),
        ho_so=HoSo(
            ma_ho_so=ma,
            ma_tthc=tthc,
            ten_tthc="Thủ tục",
            chu_ho_so="Nguyễn Văn A",
            loai_doi_tuong="1",
            trich_yeu_ho_so="Hồ sơ",
            ngay_tiep_nhan="20260101000000",
            trang_thai_ho_so=state,
            hinh_thuc="1" if online else "0",
            ngay_hen_tra=format_dvc_time(due) if due else None,
        ),
    )


def progress(sender: str, ma: str, state: str, at: datetime | None = None) -> DossierPackage:
    """A dossier progress model without To (the lifecycle addresses it); ``at`` is the time
    the agency states for the step (NgayXuLy)."""
    return DossierPackage(
        header=DossierHeader(
            package_id=f"q-{ma}-{state}",
            from_=sender,
            to=(),
            kind="dossier_progress",
            created_at="20260101000000",
        ),
        tien_do=TienDo(
            ma_ho_so=ma,
            trang_thai_ho_so=state,
            ngay_xu_ly=format_dvc_time(at) if at else "20260101000000",
            noi_dung_xu_ly="x",
        ),
    )


class Pipeline:
    """address → plan → one accept transaction, as :class:`hub.pipeline.ingest.Ingestor`."""

    def __init__(self, lifecycle: Lifecycle, store: Store, clock: ManualClock) -> None:
        self.lifecycle = lifecycle
        self.store = store
        self.clock = clock

    async def submit(self, pkg: EdxmlPackage | DossierPackage) -> str:
        """Accept the package; returns its id (raises the lifecycle's refusals)."""
        checked = checked_of(pkg)
        subject = lifecycle_input(checked)
        addressed = await self.lifecycle.address(subject)
        subject = replace(subject, recipients=addressed.recipients)
        recipients = tuple(r for r in addressed.recipients if r != subject.sender)
        now = self.clock()
        plan = await self.lifecycle.plan(
            PlanInput(subject=subject, addressed=addressed, parties=recipients, at=now, record=True)
        )
        package_id = checked.sha256[:32]
        change = plan.change(package_id, checked.sha256, now)
        package = NewPackage(
            id=package_id,
            sha256=checked.sha256,
            sender=subject.sender,
            kind=PackageKind(subject.kind),
            document_id=subject.reference_id,
            business_doc_type=subject.business_doc_type,
            status_code=subject.status_code,
            recipients=recipients,
            accepted_at=now,
            signer_fingerprint="f" * 64,
            signer_subject="CN=test",
            data=b"x",
            receipt=b"r",
        )
        (result,) = await self.store.accept(
            [
                AcceptItem(
                    package=package,
                    lifecycle=None if change.empty else change,
                    events=plan.links(package_id, now),
                )
            ]
        )
        if result.refusal is not None:
            await self.lifecycle.refused(result.refusal, subject, now)
            raise result.refusal
        return package_id
