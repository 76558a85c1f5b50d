"""The template_name adapter runs the shared adapter contract suite (``hub.testing``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.adapter import Adapter, AdapterConfig, NativeRecord, StartRequest
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do

from .. import TemplateNameAdapter, create_adapter
from ..mapping import ho_so_to_native, tien_do_to_native

H41 = ("000.00.00.H41",)


class TestTemplateNameContract(AdapterContract):
    async def open_adapter(self, data_dir: Path) -> Adapter:
        adapter = create_adapter(
            AdapterConfig(
                name="template_name", organ_id=self.sender, settings={}, data_dir=data_dir
            )
        )
        await adapter.start(StartRequest(started_at=__import__("datetime").datetime.now()))
        return adapter

    def valid_records(self) -> list[NativeRecord]:
        return [
            NativeRecord("HS-1", "v1", "dossier", ho_so_to_native(sample_ho_so("HS-1"), H41)),
            NativeRecord(
                "HS-1#1", "v1", "dossier_progress", tien_do_to_native(sample_tien_do("HS-1"), H41)
            ),
        ]

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        def bad(**change: Any) -> NativeRecord:
            fields = {**ho_so_to_native(sample_ho_so("HS-2"), H41), **change}
            return NativeRecord("HS-2", "v1", "dossier", {k: v for k, v in fields.items() if v})

        return [
            (bad(MaTTHC=None), "MaTTHC"),
            (bad(NgayTiepNhan="15/03/2024"), "NgayTiepNhan"),
            (bad(ChuHoSo=42), "ChuHoSo"),
            (bad(TaiLieuNop=[{"TenTepDinhKem": "Đơn.pdf"}]), "TaiLieuNop[0].TepDinhKemId"),
        ]

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        assert isinstance(adapter, TemplateNameAdapter)
        outbox = adapter.outbox
        body = {"kind": record.kind, "record": dict(record.fields)}
        (outbox / f"{record.key}.json").write_text(json.dumps(body, ensure_ascii=False), "utf-8")
