"""Online revocation end to end (issue 14): a hub with ``fetch_online = true`` accepting
packages from an agency whose certificate names a CRL served over HTTP and an
``openssl ocsp`` responder (tests/signing/revocation_servers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from signing.pki import fingerprint_sha256, save_certificate
from tests.api.conftest import start_hub
from tests.conftest import WorkdirFactory
from tests.signing.ltv_pki import LtvPki, Party
from tests.signing.revocation_servers import (
    NEEDS_OPENSSL,
    Servers,
    online_pki,
    servers_fixture,  # noqa: F401  # the servers fixture
)

pytestmark = NEEDS_OPENSSL
G22, H41 = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture(scope="module")
def pki(servers: Servers) -> LtvPki:
    pki = online_pki(servers)
    servers.answer_for(pki)
    return pki


def _configure(config_dir: Path, pki: LtvPki, mode: str) -> None:
    """Add the test root as an anchor, turn fetching on, bind both test certificates to
    G22 (next to its own)."""
    root_pem = config_dir / "ltv-root.pem"
    save_certificate(root_pem, pki.root.cert)
    hub_toml = config_dir / "hub.toml"
    text = hub_toml.read_text(encoding="utf-8")
    text = text.replace(
        'trust_anchors = ["../pki/ca.pem"]',
        f'trust_anchors = ["../pki/ca.pem", "ltv-root.pem"]\nrevocation = "{mode}"\n'
        "fetch_online = true\nfetch_timeout = 30.0",  # a hang bound: openssl spawns per OCSP
    )
    hub_toml.write_text(text, encoding="utf-8")
    agencies = config_dir / "agencies.toml"
    lines = agencies.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    current = ""
    for line in lines:
        if line.startswith("organ_id = "):
            current = line.split('"')[1]
        if current == G22 and line.startswith("cert_sha256 = ["):
            extra = ", ".join(f'"{fingerprint_sha256(p.cert)}"' for p in (pki.signer, pki.revoked))
            line = line.replace("[", f"[{extra}, ", 1)
        out.append(line)
    agencies.write_text("\n".join(out) + "\n", encoding="utf-8")


def _signer(party: Party) -> Signer:
    return Signer(organ_id=G22, name="Văn phòng Chính phủ", key=party.key, certificate=party.cert)


def _doc(party: Party, number: int) -> bytes:
    return document(_signer(party), [Organ(organ_id=H41, organ_name="UBND tỉnh")], number=number)[1]


@pytest.mark.parametrize("processes", [-1, 1], ids=["inline", "worker-process"])
async def test_revoked_refused_good_accepted(
    make_workdir: WorkdirFactory, pki: LtvPki, servers: Servers, processes: int
) -> None:
    servers.down.clear()
    servers.requests.clear()
    workdir = make_workdir(ingest_processes=processes)
    _configure(workdir.config_dir, pki, "hard-fail")
    async with start_hub(workdir) as hub:
        sender = await hub.client(G22)
        with pytest.raises(HubProblem) as info:
            await sender.submit(_doc(pki.revoked, 701))
        assert info.value.code == "signature.revoked"
        submitted = await sender.submit(_doc(pki.signer, 702))
        trace = await sender.trace(submitted.package_id)
        assert "signature.revocation_unknown" not in trace["warnings"]
        # What the check fetched (for the refused package; the accepted one found it in the
        # workers' directory) reaches the store at the service's next run.
        assert servers.requests == ["GET /crl"]
        assert hub.runtime.revocation is not None
        await hub.runtime.revocation.run_once()
        cached = await hub.runtime.store.revocation_cache().items()
        assert servers.crl_url in {i.url for i in cached}


async def test_unreachable_hard_fail_refused_soft_fail_warned(
    make_workdir: WorkdirFactory, pki: LtvPki, servers: Servers
) -> None:
    servers.down.update({"/crl", "/ocsp"})
    try:
        hard = make_workdir()
        _configure(hard.config_dir, pki, "hard-fail")
        async with start_hub(hard) as hub:
            with pytest.raises(HubProblem) as info:
                await (await hub.client(G22)).submit(_doc(pki.signer, 703))
            assert info.value.code == "signature.revocation_unknown"
            # The refused package's failed fetches reach the sources' health (and the
            # alarm) through the workers' event log at the service's next run.
            assert hub.runtime.revocation is not None
            await hub.runtime.revocation.run_once()
            failing = await hub.runtime.store.revocation_cache().sources()
            assert {(s.url, s.failures) for s in failing} == {
                (servers.crl_url, 1),
                (servers.ocsp_url, 1),
            }
        soft = make_workdir()
        _configure(soft.config_dir, pki, "soft-fail")
        async with start_hub(soft) as hub:
            sender = await hub.client(G22)
            submitted = await sender.submit(_doc(pki.signer, 704))
            trace = await sender.trace(submitted.package_id)
            assert "signature.revocation_unknown" in trace["warnings"]
            sources = await hub.runtime.store.revocation_cache().sources()
            assert {s.url for s in sources if s.failures} >= {servers.crl_url}
    finally:
        servers.down.clear()
