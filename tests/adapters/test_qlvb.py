"""The ``qlvb`` adapter against its document-management simulator: push, pull, outbox, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.qlvb import QlvbAdapter, create_adapter
from adapters.qlvb.simulator import QlvbSimulator
from hub.adapter import (
    Adapter,
    AdapterConfig,
    DeliverRequest,
    ExternalUnavailable,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
    ToPackageRequest,
)
from hub.dossier import VN_TZ
from hub.edxml import (
    Code,
    DocumentType,
    MessageHeader,
    Organ,
    PromulgationInfo,
    SignerInfo,
    build_document,
)
from hub.testing import AdapterContract, sign_and_verify, test_identity

H29 = "000.00.00.H29"
H41 = "000.00.00.H41"

#: The adapter's client timeout. The simulator runs in the test's own event loop, so every
#: ordinary call must finish within it on a busy machine: a spurious timeout makes the adapter
#: re-send a request that was in fact applied (a duplicate the assertions would count).
CLIENT_TIMEOUT_SECONDS = 2.0
#: How long the "timeout" fault keeps its answer: past the client timeout, so that fault
#: always times out (the server keeps the handler that long, so teardown waits for it).
TIMEOUT_FAULT_SECONDS = CLIENT_TIMEOUT_SECONDS + 1.0


def edxml(number: int = 1, sender: str = H29, subject: str | None = None) -> bytes:
    """An unsigned edXML document as the system issues it (Vietnamese text)."""
    header = MessageHeader(
        from_=Organ(organ_id=sender, organ_name="UBND tỉnh Khánh Hòa"),
        to=(Organ(organ_id=H41, organ_name="UBND tỉnh Nghệ An"),),
        document_id=f"{sender},2024/03/15,{number}/UBND-VP",
        code=Code(code_number=str(number), code_notation="UBND-VP"),
        promulgation_info=PromulgationInfo(place="Nha Trang", promulgation_date="2024/03/15"),
        document_type=DocumentType(type="1", type_detail="0", type_name="Công văn"),
        subject=subject or "V/v triển khai dịch vụ công trực tuyến mức độ 4 — đợt ưu tiên",
        content="Ủy ban nhân dân tỉnh đề nghị các sở, ngành khẩn trương thực hiện.",
        signer_info=SignerInfo(competence="KT. CHỦ TỊCH", position="Phó Chủ tịch",
                               full_name="Nguyễn Thị Thu Hương"),
    )  # fmt: skip
    return build_document(header)


def doc_record(number: int = 1, **kw: Any) -> NativeRecord:
    return NativeRecord(f"VB-{number}", "v1", "document", {"edxml": edxml(number, **kw)})


@pytest.fixture
async def qlvb() -> AsyncIterator[QlvbSimulator]:
    async with QlvbSimulator(token="bí-mật", timeout_delay=TIMEOUT_FAULT_SECONDS) as sim:
        yield sim


async def open_qlvb(sim: QlvbSimulator, data_dir: Path, **extra: Any) -> QlvbAdapter:
    settings = {"url": sim.url, "token": sim.token, "timeout_seconds": CLIENT_TIMEOUT_SECONDS,
                "backoff_seconds": 0.01, **extra}  # fmt: skip
    adapter = create_adapter(AdapterConfig("qlvb", H29, settings, data_dir))
    await adapter.start(StartRequest(datetime.now(VN_TZ)))
    return adapter


def received(adapter: QlvbAdapter, package_id: str, number: int = 1) -> NativeRecord:
    """What the connector hands over after verifying a package: the exact signed bytes."""
    signed = test_identity(H29).sign(edxml(number))
    parsed = sign_and_verify(edxml(number), test_identity(H29))
    return adapter.from_package(
        FromPackageRequest(package_id, H29, parsed.kind, parsed.model, signed)
    )


class TestQlvbContract(AdapterContract):
    """The shared contract (push mode) against the QLVB simulator."""

    sim: QlvbSimulator

    @pytest.fixture(autouse=True)
    async def simulator(self) -> AsyncIterator[QlvbSimulator]:
        # the suite hands from_package the unsigned bytes it built (a connector hands the signed
        # ones), so this system must not insist on a signature here
        async with QlvbSimulator(require_signature=False) as sim:
            self.sim = sim
            yield sim

    async def open_adapter(self, data_dir: Path) -> Adapter:
        return await open_qlvb(self.sim, data_dir)

    def valid_records(self) -> list[NativeRecord]:
        return [doc_record(1), doc_record(2, subject="Về việc cấp phép xây dựng nhà ở riêng lẻ")]

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        signed = test_identity(H29).sign(edxml(3))
        return [
            (NativeRecord("VB-3", "v1", "document", {"edxml": signed}), "Signature"),
            (NativeRecord("VB-4", "v1", "document", {"edxml": b"<edXML"}), "edxml"),
            (NativeRecord("VB-5", "v1", "document", {"edxml": "text"}), "edxml"),
            (doc_record(6, sender="000.00.00.G22"), "From/OrganId"),
            (NativeRecord("VB-7", "v1", "document", {**doc_record(7).fields, "x": "1"}), "x"),
        ]

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        self.sim.issue(record.fields["edxml"])

    async def test_vietnamese_text_is_byte_exact(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        """Overrides the suite's text-field check: this system's native record *is* the edXML
        bytes (no text fields to compare), so byte-exact means the package is those bytes and
        the Vietnamese in them is untouched."""
        adapter = await self._open(opened, tmp_path)
        for record in self.valid_records():
            native = record.fields["edxml"]
            data = self._package(adapter, record)
            assert data == native
            assert "Nguyễn Thị Thu Hương".encode() in data
            assert self._back(adapter, data, "p").fields["edxml"] == native


async def test_push_faults_register_once(qlvb: QlvbSimulator, tmp_path: Path) -> None:
    adapter = await open_qlvb(qlvb, tmp_path)
    try:
        for i, fault in enumerate(["http500", "http503", "timeout", "lost_response"], start=1):
            qlvb.inject(fault)
            result = await adapter.deliver(
                DeliverRequest(f"pkg-{i}", H29, received(adapter, f"pkg-{i}", i))
            )
            assert result.applied and result.external_id
        assert len(qlvb.documents) == 4
        # the system de-duplicated the re-sends after a registered-but-unanswered attempt
        assert set(qlvb.duplicates()) == {"pkg-3", "pkg-4"}
        again = await adapter.deliver(DeliverRequest("pkg-1", H29, received(adapter, "pkg-1")))
        assert not again.applied
    finally:
        await adapter.stop(StopRequest())


async def test_push_signed_bytes_unchanged_and_refusals(
    qlvb: QlvbSimulator, tmp_path: Path
) -> None:
    adapter = await open_qlvb(qlvb, tmp_path)
    record = received(adapter, "pkg-a")
    await adapter.deliver(DeliverRequest("pkg-a", H29, record))
    assert qlvb.documents["pkg-a"] == record.fields["edxml"]
    unsigned = NativeRecord("x", "1", "document", {"edxml": edxml(9)})
    with pytest.raises(NativeInvalid) as info:
        await adapter.deliver(DeliverRequest("pkg-u", H29, unsigned))
    assert info.value.field == "Signature"
    qlvb.inject(*["http503"] * 10)
    with pytest.raises(ExternalUnavailable):
        await adapter.deliver(DeliverRequest("pkg-b", H29, received(adapter, "pkg-b", 2)))
    await adapter.stop(StopRequest())


async def test_pull_mode(qlvb: QlvbSimulator, tmp_path: Path) -> None:
    adapter = await open_qlvb(qlvb, tmp_path, mode="pull", pull_token="kéo")
    try:
        r1, r2 = received(adapter, "pkg-1", 1), received(adapter, "pkg-2", 2)
        assert (await adapter.deliver(DeliverRequest("pkg-1", H29, r1))).applied
        assert not (await adapter.deliver(DeliverRequest("pkg-1", H29, r1))).applied
        assert (await adapter.deliver(DeliverRequest("pkg-2", H29, r2))).applied
        # the system crashes after registering the first, before acknowledging it
        assert await qlvb.pull_once(adapter.pull_url, "kéo", crash_before_ack=True) == 1
        assert await qlvb.pull_once(adapter.pull_url, "kéo") == 1  # pkg-1 again: de-duplicated
        assert await qlvb.pull_once(adapter.pull_url, "kéo") == 0
        assert qlvb.documents == {"pkg-1": r1.fields["edxml"], "pkg-2": r2.fields["edxml"]}
        with pytest.raises(Exception, match="401"):
            await qlvb.pull_once(adapter.pull_url, "sai")
    finally:
        await adapter.stop(StopRequest())


async def test_poll_outbox(qlvb: QlvbSimulator, tmp_path: Path) -> None:
    adapter = await open_qlvb(qlvb, tmp_path)
    try:
        for i in range(1, 4):
            qlvb.issue(edxml(i))
        page = await adapter.poll(PollRequest(cursor=None, limit=2))
        assert [r.key for r in page.records] == ["VB-000001", "VB-000002"] and page.more
        rest = await adapter.poll(PollRequest(cursor=page.cursor, limit=2))
        assert [r.key for r in rest.records] == ["VB-000003"] and not rest.more
        out = adapter.to_package(ToPackageRequest(rest.records[0], H29, "p", datetime.now(VN_TZ)))
        assert out.data == edxml(3) and out.recipients == (H41,)
        qlvb.inject("http503")
        assert (await adapter.poll(PollRequest(cursor=rest.cursor))).records == ()
    finally:
        await adapter.stop(StopRequest())
