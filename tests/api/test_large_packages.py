"""Large attachments (issue 10): one attachment may use the whole package limit, and deep
nesting is refused by the hub's own limit (``huge_tree`` lifts libxml2's)."""

from __future__ import annotations

import base64
import hashlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from hub.client import HubProblem
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.dossier import DossierHeader, DossierPackage, GiayToKetQua, TaiLieu
from hub.edxml import Attachment, Organ, parse_package
from hub.errors import ConfigError
from hub.pipeline import checks
from hub.pipeline.checks import Checked, Summary, without_contents
from hub.pipeline.executor import SPOOL_THRESHOLD
from hub.receipts import parse_receipt
from hub.testing.helpers import sample_ho_so
from hub.xmlsafe import parse_xml
from tests.api.conftest import start_hub
from tests.conftest import WorkdirFactory

G22, H41 = "000.00.00.G22", "000.00.00.H41"
# A ZIP of this many random bytes is ~15 MB of base64: over libxml2's 10 MB text-node cap.
ATTACHMENT_BYTES = 11_300_000


async def test_a_15_mb_attachment_is_accepted_and_delivered_byte_exact(
    make_workdir: WorkdirFactory,
    signers: Callable[[str], Signer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The spool files the executor hands large packages through land in tmp_path here.
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    _, data = document(
        signers(G22),
        [Organ(organ_id=H41, organ_name=H41)],
        number=1510,
        attachment_size=ATTACHMENT_BYTES,
    )
    assert 15_000_000 < len(data) < 20 * 1024 * 1024  # under the default limit
    assert len(data) >= SPOOL_THRESHOLD
    # One real worker process: the package reaches it through a file, not a pickle.
    async with start_hub(make_workdir(ingest_processes=1)) as hub:
        submitted = await (await hub.client(G22)).submit(data)
        assert submitted.created
        assert H41 in submitted.recipients
        # The worker digested the file as it parsed it: the receipt states the real bytes.
        facts = parse_receipt(etree.fromstring(submitted.receipt))
        assert (facts.sha256, facts.size) == (hashlib.sha256(data).hexdigest(), len(data))
        got = await (await hub.client(H41)).fetch(submitted.package_id)
        # One base64 character changed in the middle of the attachment: the spliced digest
        # no longer matches, and the refusal crosses back from the worker with its code.
        middle = data.index(b"<ContentTransferEncoded>") + len(data) // 3
        flipped = b"B" if data[middle : middle + 1] == b"A" else b"A"
        tampered = data[:middle] + flipped + data[middle + 1 :]
        with pytest.raises(HubProblem) as info:
            await (await hub.client(G22)).submit(tampered)
        assert info.value.code == "signature.invalid"
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
    assert list(spool.iterdir()) == []  # the spool file is removed after the check


async def test_a_depth_bomb_is_refused_over_http(
    make_workdir: WorkdirFactory, signers: Callable[[str], Signer]
) -> None:
    bomb = b'<?xml version="1.0" encoding="UTF-8"?>' + b"<a>" * 50_000 + b"</a>" * 50_000
    async with start_hub(make_workdir(ingest_processes=-1)) as hub:
        client = await hub.client(G22)
        with pytest.raises(HubProblem) as info:
            await client.submit(bomb)
    assert info.value.status == 400
    assert info.value.code == "xml.too_deep"
    assert info.value.body["max_depth"] == 64


def _checked(package: object) -> Checked:
    summary = Summary("document", G22, (H41,), None, None, None, ())
    return Checked(
        sha256="0" * 64,
        size=1,
        package=package,  # type: ignore[arg-type]
        summary=summary,
        signer_fingerprint="f",
        signer_subject="CN=x",
        signer_not_after=datetime(2030, 1, 1, tzinfo=UTC),
        signature_method="rsa-sha256",
        legacy_signature=False,
    )


def test_results_cross_back_without_attachment_contents(
    signers: Callable[[str], Signer],
) -> None:
    _, data = document(signers(G22), [Organ(organ_id=H41, organ_name=H41)], number=9)
    package = parse_package(parse_xml(data))
    assert package.attachments and package.attachments[0].content_b64
    stripped = without_contents(_checked(package)).package
    assert [a.content_b64 for a in stripped.attachments] == [""]  # type: ignore[union-attr]
    # Everything else is untouched.
    assert stripped == replace(
        package, attachments=tuple(replace(a, content_b64="") for a in package.attachments)
    )

    ho_so = replace(
        sample_ho_so(),
        danh_sach_giay_to_ket_qua=(
            GiayToKetQua(giay_to_id="KQ1", ten_giay_to="Giấy phép", noi_dung_b64="UERG"),
        ),
    )
    assert isinstance(ho_so.tai_lieu_nop[0], TaiLieu) and ho_so.tai_lieu_nop[0].noi_dung_b64
    dossier = DossierPackage(
        header=DossierHeader(
            package_id="p1", from_=G22, to=(H41,), kind="dossier", created_at="20240315083000"
        ),
        ho_so=ho_so,
    )
    out = without_contents(_checked(dossier)).package
    assert isinstance(out, DossierPackage) and out.ho_so is not None
    assert out.ho_so.tai_lieu_nop[0].noi_dung_b64 == ""
    assert out.ho_so.danh_sach_giay_to_ket_qua[0].noi_dung_b64 == ""
    assert out.ho_so.chu_ho_so == "Nguyễn Thị Ánh Tuyết"
    assert out.ho_so.tai_lieu_nop[0].ten_tep_dinh_kem == "Đơn đề nghị cấp giấy phép.pdf"


@pytest.mark.parametrize("piece", [1, 4, 5, 8, 13, 1 << 20])
def test_piecewise_base64_decoding_matches_attachment_decode(
    piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """step_pdf decodes attachments piece by piece: same bytes, same refusals."""
    monkeypatch.setattr(checks, "_B64_PIECE", piece)
    rng = random.Random(piece)
    cases = ["", "QQ==", "QUJD", "QQ==QQ==", "QUJDQUJD=", "QUJD====", "QU JD\nQQ==", "QUJ"]
    cases += ["QUJDQ", "Q===", "QUJDQUJDQé==", "QUJD!QUJD", "QUJDQU=D", "QUJD\r\nQUJD\r\n"]
    for _ in range(2000):
        chars = list(base64.b64encode(rng.randbytes(rng.randint(0, 30))).decode())
        for _ in range(rng.randint(0, 2)):
            noise = rng.choice([" ", "\n", "\r\n", "=", "==", "A", "!", "é"])
            chars.insert(rng.randint(0, len(chars)), noise)
        cases.append("".join(chars))
    for text in cases:
        att = Attachment(content_id="c", attachment_name="a", content_type="t", content_b64=text)
        try:
            expected: bytes | None = att.decode()
        except ValueError:
            expected = None
        try:
            got: bytes | None = checks._decode_base64(text, "c")
        except ValueError:
            got = None
        assert got == expected, text


def test_max_xml_depth_is_configured_in_limits(make_workdir: WorkdirFactory) -> None:
    workdir = make_workdir()
    hub_toml = workdir.config_dir / "hub.toml"
    text = hub_toml.read_text(encoding="utf-8")
    assert load_config(workdir.config_dir).settings.max_xml_depth == 64  # the default
    hub_toml.write_text(text.replace("[limits]\n", "[limits]\nmax_xml_depth = 8\n"), "utf-8")
    assert load_config(workdir.config_dir).settings.max_xml_depth == 8
    hub_toml.write_text(text.replace("[limits]\n", "[limits]\nmax_xml_depth = 0\n"), "utf-8")
    with pytest.raises(ConfigError, match="max_xml_depth"):
        load_config(workdir.config_dir)
