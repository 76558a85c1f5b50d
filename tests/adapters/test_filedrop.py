"""The ``filedrop`` adapter against a simulated site: half-written files, offline catch-up,
atomic inbox, exactly once."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.dvcqg.mapping import fields_from_ho_so
from adapters.filedrop import FiledropAdapter, create_adapter
from adapters.filedrop.simulator import SiteSimulator
from hub.adapter import (
    Adapter,
    AdapterConfig,
    DeliverRequest,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
)
from hub.dossier import VN_TZ, DossierHeader, DossierPackage, build_dossier
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do, test_identity
from tests.adapters.test_qlvb import edxml

H29 = "000.00.00.H29"
H41 = "000.00.00.H41"


def dossier_xml(code: str = "D-1", progress: bool = False) -> bytes:
    """An unsigned dossier package as a site's software writes it."""
    header = DossierHeader(
        package_id=f"site-{code}-{int(progress)}",
        from_=H29,
        to=(H41,),
        kind="dossier_progress" if progress else "dossier",
        created_at="20240315083000",
    )
    if progress:
        return build_dossier(DossierPackage(header, tien_do=sample_tien_do(code)))
    return build_dossier(DossierPackage(header, ho_so=sample_ho_so(code)))


async def open_drop(root: Path, data_dir: Path, **extra: Any) -> FiledropAdapter:
    settings = {"root": str(root), "settle_seconds": 0.0, **extra}
    adapter = create_adapter(AdapterConfig("filedrop", H29, settings, data_dir))
    await adapter.start(StartRequest(datetime.now(VN_TZ)))
    return adapter


class TestFiledropContract(AdapterContract):
    """The shared contract (dossier and edXML package files)."""

    async def open_adapter(self, data_dir: Path) -> Adapter:
        return await open_drop(data_dir / "drop", data_dir / "state")

    def valid_records(self) -> list[NativeRecord]:
        return [
            NativeRecord("d1.xml", "v1", "dossier", {"package": dossier_xml("D-1")}),
            NativeRecord("p1.xml", "v1", "dossier_progress", {"package": dossier_xml("D-1", True)}),
            NativeRecord("e1.xml", "v1", "document", {"package": edxml(1)}),
        ]

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        signed = test_identity(H29).sign(dossier_xml("D-9"))
        bad_state = dossier_xml("D-8").replace(
            b"<TrangThaiHoSo>2</TrangThaiHoSo>", b"<TrangThaiHoSo>11</TrangThaiHoSo>"
        )
        return [
            (NativeRecord("a.xml", "1", "dossier", {"package": dossier_xml()[:200]}), "package"),
            (NativeRecord("b.xml", "1", "dossier", {"package": signed}), "Signature"),
            (
                NativeRecord("c.xml", "1", "dossier", {"package": bad_state}),
                "/DossierPackage/Body/HoSo/TrangThaiHoSo",
            ),
            (NativeRecord("d.xml", "1", "dossier", {"package": b"x", "name": "d"}), "name"),
        ]

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        assert isinstance(adapter, FiledropAdapter)
        SiteSimulator(adapter.root).drop_atomic(record.key, record.fields["package"])

    async def test_vietnamese_text_is_byte_exact(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        """Overrides the suite's text-field check: a file-drop record *is* the package bytes
        (no text fields), so byte-exact means the package is exactly the file."""
        adapter = await self._open(opened, tmp_path)
        for record in self.valid_records():
            data = self._package(adapter, record)
            assert data == record.fields["package"]
            assert self._back(adapter, data, "p").fields["package"] == data
        assert "Nguyễn Thị Ánh Tuyết".encode() in dossier_xml()


async def test_half_written_file_is_never_picked_up(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    # The settle window is 40 times the writer's pauses, so that it is the settle rule that
    # holds the file back even when a busy machine stretches a pause (with a window close to
    # the pauses, the half-written XML not parsing would do it instead, testing the fallback).
    adapter = await open_drop(site.root, tmp_path / "state", settle_seconds=2.0)
    try:
        data = dossier_xml("SLOW")
        writer = site.drop_slowly("slow.xml", data, chunks=5, pause=0.05)
        seen: list[bytes] = []
        while writer.is_alive():
            seen += [r.fields["package"] for r in (await adapter.poll(PollRequest(None))).records]
            await asyncio.sleep(0.02)
        writer.join()
        assert seen == []  # nothing while it was being written
        # Picked up once it has settled: polled (bounded), not after a fixed sleep.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while not seen and loop.time() < deadline:
            seen += [r.fields["package"] for r in (await adapter.poll(PollRequest(None))).records]
            await asyncio.sleep(0.05)
        assert seen == [data]
    finally:
        await adapter.stop(StopRequest())


async def test_interrupted_copy_then_resumed(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    adapter = await open_drop(site.root, tmp_path / "state")
    try:
        data = dossier_xml("SYNC")
        tmp = site.drop_interrupted("sync.xml", data)
        assert (await adapter.poll(PollRequest(None))).records == ()
        site.resume_interrupted(tmp, "sync.xml", data)
        result = await adapter.poll(PollRequest(None))
        assert [r.key for r in result.records] == ["sync.xml"]
    finally:
        await adapter.stop(StopRequest())


async def test_truncated_file_reported_after_stale_and_sent_once_fixed(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    adapter = await open_drop(site.root, tmp_path / "state", stale_seconds=0.1)
    try:
        data = dossier_xml("BAD")
        path = site.outbox / "bad.xml"
        path.write_bytes(data[:300])
        assert (await adapter.poll(PollRequest(None))).records == ()  # maybe still writing
        old = time.time() - 1
        os.utime(path, (old, old))
        assert (await adapter.poll(PollRequest(None))).records == ()
        note = (site.root / "errors" / "bad.xml.txt").read_text("utf-8")
        assert "package:" in note and path.exists()  # reported, kept
        path.write_bytes(data)
        result = await adapter.poll(PollRequest(None))
        assert [r.key for r in result.records] == ["bad.xml"]
        assert not (site.root / "errors" / "bad.xml.txt").exists()
    finally:
        await adapter.stop(StopRequest())


async def test_offline_accumulates_then_catches_up_in_order_once(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    for i in range(12):
        site.drop_atomic(f"hs-{i:02d}.xml", dossier_xml(f"HS-{i:02d}"))
        t = time.time() - 100 + i
        os.utime(site.outbox / f"hs-{i:02d}.xml", (t, t))
    adapter = await open_drop(site.root, tmp_path / "state")
    try:
        sent: list[str] = []
        cursor = None
        while True:
            result = await adapter.poll(PollRequest(cursor=cursor, limit=5))
            sent += [r.key for r in result.records]
            cursor = result.cursor
            if not result.records:
                break
        assert sent == [f"hs-{i:02d}.xml" for i in range(12)]
        assert sorted(p.name for p in (site.root / "sent").iterdir()) == sent
        assert list(site.outbox.iterdir()) == []
    finally:
        await adapter.stop(StopRequest())


async def test_rewritten_after_sending_is_sent_again_not_moved(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    adapter = await open_drop(site.root, tmp_path / "state")
    try:
        site.drop_atomic("a.xml", dossier_xml("A"))
        first = await adapter.poll(PollRequest(None))
        site.drop_atomic("a.xml", dossier_xml("A2"))  # replaced before the next poll
        second = await adapter.poll(PollRequest(first.cursor))
        assert [r.version for r in second.records] != [r.version for r in first.records]
        assert (site.outbox / "a.xml").exists()
    finally:
        await adapter.stop(StopRequest())


async def test_inbox_is_atomic_and_once(tmp_path: Path) -> None:
    site = SiteSimulator(tmp_path / "drop")
    adapter = await open_drop(site.root, tmp_path / "state")
    big = edxml(1).replace(b"</edXML>", b"<!--" + b"x" * 3_000_000 + b"--></edXML>")
    expected = {f"pkg-{i}.xml": big + str(i).encode() for i in range(8)}
    site.start_reader(expected)
    try:
        for name, data in expected.items():
            rec = NativeRecord("k", "v", "document", {"package": data})
            assert (await adapter.deliver(DeliverRequest(name[:-4], H29, rec))).applied
        # The reader thread stops without a final pass: wait (bounded) until it has read
        # everything rather than giving it a fixed moment to read 24 MB on a busy machine.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while set(site.read) != set(expected) and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        site.stop_reader()
    assert site.partial_reads == []
    assert set(site.read) == set(expected)
    assert not list(site.inbox.glob(".*"))
    # redelivery after the site took the file away: not written again
    (site.inbox / "pkg-0.xml").unlink()
    rec = NativeRecord("k", "v", "document", {"package": expected["pkg-0.xml"]})
    assert not (await adapter.deliver(DeliverRequest("pkg-0", H29, rec))).applied
    assert not (site.inbox / "pkg-0.xml").exists()
    await adapter.stop(StopRequest())


def test_fields_helper_is_shared() -> None:
    # the dossier files use the same DVCQG names as the dvcqg adapter's records
    assert fields_from_ho_so(sample_ho_so("D-1"))["MaHoSo"] == "D-1"
