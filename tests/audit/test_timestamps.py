"""RFC 3161 time-stamping of checkpoints against a local TSA (an aiohttp server on 127.0.0.1
signing with the test TSA key from ../shared/testdata; no network): tokens stored with the
checkpoints, verified by ``hub audit verify``, exported in the evidence and verified there by
``openssl ts -verify``."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from hub.audit.evidence import export_evidence
from hub.audit.service import verify_store, write_checkpoint
from hub.audit.tsa import QUERY_TYPE, REPLY_TYPE, TimestampError, TsaClient, token_time
from hub.cli import main
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from tests.api.conftest import start_hub
from tests.conftest import shared_testdata, skip_or_fail

G22, H41 = "000.00.00.G22", "000.00.00.H41"
CA_DIR = shared_testdata("pdf", "testing-ca", "root")
TSA_ROOT = CA_DIR / "root.cert.pem"


def _stamper() -> DummyTimeStamper:
    key, cert, _ = pkcs12.load_key_and_certificates((CA_DIR / "tsa.pfx").read_bytes(), None)
    assert key is not None and cert is not None
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )


@pytest.fixture
async def tsa_url() -> AsyncIterator[str]:
    """A time-stamp authority on a loopback port (RFC 3161 over HTTP)."""
    if not (CA_DIR / "tsa.pfx").exists():
        skip_or_fail(f"test TSA material missing in {CA_DIR}")
    stamper = _stamper()
    requests: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append(request.content_type)
        if request.content_type != QUERY_TYPE:
            return web.Response(status=415)
        req = tsp.TimeStampReq.load(await request.read())
        resp = stamper.request_tsa_response(req)
        return web.Response(body=resp.dump(), content_type=REPLY_TYPE)

    app = web.Application()
    app.router.add_post("/tsa", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/tsa"))
    finally:
        await server.close()
    assert requests and set(requests) == {QUERY_TYPE}


def _configure(workdir: Workdir, url: str) -> None:
    with (workdir.config_dir / "hub.toml").open("a") as fh:
        fh.write(f'\n[audit]\ntsa_url = "{url}"\ntsa_certs = ["{TSA_ROOT}"]\n')


async def test_checkpoints_are_time_stamped_and_verify_everywhere(
    workdir: Workdir,
    tsa_url: str,
    signers: Callable[[str], Signer],
    xmlsec1: str,
    openssl: str,
    tmp_path: Path,
) -> None:
    _configure(workdir, tsa_url)
    async with start_hub(workdir) as hub:
        rt = hub.runtime
        assert rt.checkpointer.tsa is not None
        _, data = document(signers(G22), [Organ(organ_id=H41, organ_name="UBND tỉnh")], number=51)
        sent = await (await hub.client(G22)).submit(data)
        await (await hub.client(H41)).ack(sent.package_id)
        row = await rt.checkpointer.tick()  # what the periodic loop does
        assert row is not None and row.tst is not None
        assert token_time(row.tst) >= row.at.replace(microsecond=0)
        archive = await export_evidence(
            rt.store,
            rt.signer,
            rt.config.settings.hub_id,
            sent.package_id,
            tmp_path / "ev.tar.gz",
            anchors=rt.config.settings.trust_anchors,
            tsa=rt.checkpointer.tsa,
            tsa_certs=(TSA_ROOT,),
        )
        report = await verify_store(rt.store, rt.signer, (TSA_ROOT,))
        assert report.ok, report.lines()
        assert report.timestamped == report.checkpoints >= 2
        # Against another anchor the tokens are not trusted: hub audit verify says so.
        wrong = await verify_store(rt.store, rt.signer, rt.config.settings.trust_anchors)
        assert not wrong.ok and "time-stamp token" in wrong.first.message  # type: ignore[union-attr]

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    root = tmp_path / "x" / f"evidence-{sent.package_id}"
    tokens = sorted((root / "checkpoints").glob("*.tst"))
    assert tokens and (root / "certs" / "tsa-1.pem").exists()
    result = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time-stamp token checkpoints/" in result.stdout
    # The README's command, by hand.
    for token in tokens:
        check = subprocess.run(
            [
                "openssl", "ts", "-verify", "-token_in", "-in", str(token),
                "-data", str(token.with_suffix(".xml")),
                "-CAfile", str(root / "certs" / "tsa-1.pem"),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert check.returncode == 0 and "Verification: OK" in check.stdout, check.stderr
    # A token moved onto another checkpoint stamps other bytes: openssl refuses it.
    other = sorted((root / "checkpoints").glob("*.xml"))
    if len(other) > 1:
        moved = subprocess.run(
            [
                "openssl", "ts", "-verify", "-token_in", "-in", str(tokens[-1]),
                "-data", str(other[0]), "-CAfile", str(root / "certs" / "tsa-1.pem"),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert moved.returncode != 0

    # hub audit verify (the CLI) checks the tokens with [audit] tsa_certs
    runner = CliRunner()
    # (in a thread: the CLI runs its own event loop, this test already has one)
    args = ["audit", "verify", "--config", str(workdir.config_dir)]
    ok = await asyncio.to_thread(runner.invoke, main, args)
    assert ok.exit_code == 0, ok.output
    assert "time-stamped checkpoints: 0" not in ok.output
    # A token swapped between checkpoints in the database: named, exit 1.
    path = load_config(workdir.config_dir).settings.sqlite_path
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, tst FROM audit_checkpoints WHERE tst IS NOT NULL"
        ).fetchall()
        assert len(rows) >= 2
        conn.execute("UPDATE audit_checkpoints SET tst = ? WHERE id = ?", (rows[0][1], rows[1][0]))
    bad = await asyncio.to_thread(runner.invoke, main, args)
    assert bad.exit_code == 1
    assert f"checkpoint {rows[1][0]}: time-stamp token" in bad.output


async def test_tsa_outage_leaves_checkpoints_unstamped(workdir: Workdir) -> None:
    """A TSA that does not answer never stops the checkpoints."""
    _configure(workdir, "http://127.0.0.1:9/tsa")  # discard port: nothing listens
    async with start_hub(workdir) as hub:
        rt = hub.runtime
        tsa = TsaClient("http://127.0.0.1:9/tsa", timeout=2.0)
        with pytest.raises(TimestampError):
            await tsa.timestamp(b"x")
        row = await write_checkpoint(rt.store, rt.signer, "hub", tsa=tsa)
        assert row.tst is None
        stored = await rt.store.audit().checkpoints()
        assert stored[-1].id == row.id and stored[-1].tst is None
