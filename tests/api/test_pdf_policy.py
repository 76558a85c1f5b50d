"""The [pdf] policy end to end: warn (accepted, verdicts on the trace), require (422), ignore."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import hub.demo.factory as factory
from hub.client import HubProblem
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from tests.api.conftest import start_hub
from tests.conftest import TESTDATA, WorkdirFactory

G22, H41 = "000.00.00.G22", "000.00.00.H41"
SIGNED_PDF = (TESTDATA / "pdf" / "signed" / "sig-with-ski-sid.pdf").read_bytes()


def _with_pdf(name: str, text: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
        zf.writestr("signed/" + name.replace(".txt", ".pdf"), SIGNED_PDF)
    return buf.getvalue()


def _policy(config_dir: Path, default: str) -> None:
    with (config_dir / "hub.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[pdf]\ndefault = "{default}"\n')


def _organs(*ids: str) -> list[Organ]:
    return [Organ(organ_id=i, organ_name=i) for i in ids]


async def test_warn_accepts_and_traces_the_verdict(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = make_workdir()
    monkeypatch.setattr(factory, "_zip", _with_pdf)
    _, data = document(signers(G22), _organs(H41), number=501)
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        submitted = await sender.submit(data)
        trace = await sender.trace(submitted.package_id)
    # The test PKI is not among the hub's anchors: the signer is untrusted → invalid.
    assert any(w.startswith("pdf.invalid:") for w in trace["warnings"])
    events = [e for e in trace["events"] if e["kind"] == "attachments_checked"]
    (event,) = events
    (result,) = event["detail"]["attachments"]
    assert result["verdict"] == "invalid" and result["policy"] == "warn"
    assert result["path"].endswith(".zip/signed/van-ban-501-1.pdf")
    assert result["signatures"][0]["reasons"] == ["pdf.untrusted"]


async def test_require_refuses_and_ignore_skips(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, random_member = document(signers(G22), _organs(H41), number=502)  # no real PDF
    monkeypatch.setattr(factory, "_zip", _with_pdf)
    _, with_pdf = document(signers(G22), _organs(H41), number=503)

    workdir = make_workdir()
    _policy(workdir.config_dir, "require")
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        with pytest.raises(HubProblem) as info:
            await sender.submit(with_pdf)
        assert (info.value.status, info.value.code) == (422, "pdf.invalid")
        with pytest.raises(HubProblem) as info:
            await sender.submit(random_member)
        assert (info.value.status, info.value.code) == (422, "pdf.required")

    workdir = make_workdir()
    _policy(workdir.config_dir, "ignore")
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        submitted = await sender.submit(with_pdf)
        trace = await sender.trace(submitted.package_id)
    assert not [e for e in trace["events"] if e["kind"] == "attachments_checked"]
