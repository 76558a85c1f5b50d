"""The iGate adapter against its simulator: the shared contract suite, plus iGate specifics
(faults, lost replies, API key)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.igate import IgateAdapter, mapping
from adapters.igate.simulator import Faults, IgateSimulator
from hub.adapter import (
    Adapter,
    AdapterConfig,
    AdapterError,
    AuthRefused,
    DeliverRequest,
    ExternalUnavailable,
    NativeRecord,
    PollRequest,
    StartRequest,
    StopRequest,
)
from hub.testing import AdapterContract, sample_ho_so, sample_tien_do

API_KEY = "igate-test-key"
H41 = "000.00.00.H41"


def igate_dossier(code: str = "000.00.01.H29-240315-0001") -> dict[str, Any]:
    return mapping.ho_so_to_native(sample_ho_so(code), to=(H41,))


def igate_progress(code: str = "000.00.01.H29-240315-0001") -> dict[str, Any]:
    return mapping.tien_do_to_native(sample_tien_do(code), to=(H41,))


async def open_igate(url: str, data_dir: Path, **settings: Any) -> IgateAdapter:
    adapter = IgateAdapter(
        AdapterConfig(
            name="igate",
            organ_id="000.00.00.H29",
            settings={"base_url": url, "api_key": API_KEY, "retry_delay": 0.01, **settings},
            data_dir=data_dir,
        )
    )
    await adapter.start(StartRequest(started_at=__import__("datetime").datetime.now()))
    return adapter


class TestIgateContract(AdapterContract):
    sim: IgateSimulator

    @pytest.fixture(autouse=True)
    async def simulator(self) -> AsyncIterator[IgateSimulator]:
        async with IgateSimulator(api_key=API_KEY) as sim:
            self.sim = sim
            yield sim

    async def open_adapter(self, data_dir: Path) -> Adapter:
        return await open_igate(self.sim.url, data_dir)

    def valid_records(self) -> list[NativeRecord]:
        minimal = {
            k: v
            for k, v in igate_dossier("M-1").items()
            if k in ("code", "procedure", "applicant", "summary", "acceptedDate", "status", "to")
        }
        return [
            NativeRecord("D-1", "r1", "dossier", igate_dossier("D-1")),
            NativeRecord("M-1", "r1", "dossier", minimal),
            NativeRecord("D-1#p1", "1", "dossier_progress", igate_progress("D-1")),
        ]

    def invalid_records(self) -> list[tuple[NativeRecord, str]]:
        def bad(change: Any, kind: str = "dossier") -> NativeRecord:
            fields = igate_dossier() if kind == "dossier" else igate_progress()
            change(fields)
            return NativeRecord("X", "r1", kind, fields)  # type: ignore[arg-type]

        return [
            (bad(lambda f: f.pop("code")), "code"),
            (bad(lambda f: f["applicant"].pop("fullname")), "applicant.fullname"),
            (bad(lambda f: f["procedure"].update(name="")), "procedure.name"),
            (bad(lambda f: f.update(acceptedDate="15/03/2024")), "acceptedDate"),
            (bad(lambda f: f.update(status="2")), "status"),
            (bad(lambda f: f.update(status=11)), "status"),
            (bad(lambda f: f["applicant"].update(type=3)), "applicant.type"),
            (bad(lambda f: f["files"][0].update(data="not base64!")), "files[0].data"),
            (bad(lambda f: f["fees"][0].update(amount=75000.5)), "fees[0].amount"),
            (bad(lambda f: f.update(to="000.00.00.H41")), "to"),
            (bad(lambda f: f.pop("content"), "dossier_progress"), "content"),
        ]

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        url = f"{self.sim.url}/api/v1/dossiers"
        async with (
            aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as s,
            s.post(url, json=record.fields) as r,
        ):
            assert r.status == 201, await r.text()


async def test_wrong_api_key_is_a_configuration_error(tmp_path: Path) -> None:
    """A refused key is the connector's configuration, not a record's or a package's fault: a
    coded AdapterError the connector reports as such (and never quarantines for)."""
    async with IgateSimulator(api_key=API_KEY) as sim:
        adapter = await open_igate(sim.url, tmp_path, api_key="wrong")
        try:
            with pytest.raises(AuthRefused, match="401") as info:
                await adapter.poll(PollRequest(cursor=None))
            assert isinstance(info.value, AdapterError)
            assert info.value.code == "adapter.auth_refused"
            record = NativeRecord("D-1", "r1", "dossier", igate_dossier("D-1"))
            with pytest.raises(AuthRefused):
                await adapter.deliver(DeliverRequest("p-1", "000.00.00.H29", record))
        finally:
            await adapter.stop(StopRequest())


async def test_5xx_is_retried_then_reported_unavailable(tmp_path: Path) -> None:
    async with IgateSimulator(api_key=API_KEY, faults=Faults(error_rate=1.0)) as sim:
        adapter = await open_igate(sim.url, tmp_path, attempts=3)
        try:
            with pytest.raises(ExternalUnavailable, match="503"):
                await adapter.poll(PollRequest(cursor=None))
            assert sim.failures == 3
        finally:
            await adapter.stop(StopRequest())


async def test_slow_answer_times_out_as_unavailable(tmp_path: Path) -> None:
    faults = Faults(slow_rate=1.0, slow_seconds=0.5)
    async with IgateSimulator(api_key=API_KEY, faults=faults) as sim:
        adapter = await open_igate(sim.url, tmp_path, timeout=0.1, attempts=2)
        try:
            with pytest.raises(ExternalUnavailable, match="Timeout"):
                await adapter.poll(PollRequest(cursor=None))
        finally:
            await adapter.stop(StopRequest())


async def test_lost_reply_is_retried_and_applied_once(tmp_path: Path) -> None:
    async with IgateSimulator(api_key=API_KEY, faults=Faults(lost_reply_rate=1.0)) as sim:
        adapter = await open_igate(sim.url, tmp_path, attempts=3)
        try:
            record = NativeRecord("D-9", "p", "dossier", igate_dossier("D-9"))
            with pytest.raises(ExternalUnavailable, match="502"):
                await adapter.deliver(DeliverRequest("pkg-1", "000.00.00.H29", record))
            sim.faults.lost_reply_rate = 0.0
            result = await adapter.deliver(DeliverRequest("pkg-1", "000.00.00.H29", record))
            assert result.applied is False  # it had been applied: the reply was lost
            assert sim.dossier("D-9") == igate_dossier("D-9")
        finally:
            await adapter.stop(StopRequest())


async def test_progress_updates_the_dossier_state_in_igate(tmp_path: Path) -> None:
    async with IgateSimulator(api_key=API_KEY) as sim:
        adapter = await open_igate(sim.url, tmp_path)
        try:
            dossier = NativeRecord("D-2", "p", "dossier", igate_dossier("D-2"))
            await adapter.deliver(DeliverRequest("pkg-d", "000.00.00.H29", dossier))
            step = copy.deepcopy(igate_progress("D-2"))
            progress = NativeRecord("D-2#1", "p", "dossier_progress", step)
            await adapter.deliver(DeliverRequest("pkg-p", "000.00.00.H29", progress))
            stored = sim.dossier("D-2")
            assert stored is not None and stored["status"] == 4
            assert sim.progress_of("D-2") == [step]
            # nothing received from the hub is echoed into the change feed
            assert (await adapter.poll(PollRequest(cursor=None))).records == ()
        finally:
            await adapter.stop(StopRequest())
