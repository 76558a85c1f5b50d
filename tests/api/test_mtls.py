"""Client certificates authenticate agencies where TLS is configured."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from hub.api.app import build_app
from hub.api.tls import server_ssl_context
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from hub.runtime import Runtime
from signing.pki import (
    issue_certificate,
    load_certificates,
    load_private_key,
    save_certificate,
    save_private_key,
)

G22, H41 = "000.00.00.G22", "000.00.00.H41"


def _server_identity(workdir: Workdir) -> tuple[Path, Path]:
    pki = workdir.pki_dir
    key, cert = issue_certificate(
        load_private_key(pki / "ca-key.pem"),
        load_certificates(pki / "ca.pem")[0],
        "hub.test",
        key_type="ec-p256",
    )
    save_private_key(pki / "tls-key.pem", key)
    save_certificate(pki / "tls-cert.pem", cert)
    return pki / "tls-cert.pem", pki / "tls-key.pem"


async def test_client_certificate_authenticates_the_agency(
    workdir: Workdir, signers: Callable[[str], Signer], unused_tcp_port: int
) -> None:
    cert, key = _server_identity(workdir)
    hub_toml = workdir.config_dir / "hub.toml"
    tls = (
        f'[http]\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'client_ca = "{workdir.pki_dir / "ca.pem"}"\n'
    )
    hub_toml.write_text(hub_toml.read_text().replace("[http]\n", tls, 1))
    # The same key and certificate the agency signs with serve as its TLS client identity.
    config = load_config(workdir.config_dir)
    agency = workdir.agencies[G22]
    client_ctx = ssl.create_default_context(cafile=str(workdir.pki_dir / "ca.pem"))
    client_ctx.check_hostname = False  # the test server certificate names no host
    client_ctx.load_cert_chain(agency.cert_path, agency.key_path)
    anonymous_ctx = ssl.create_default_context(cafile=str(workdir.pki_dir / "ca.pem"))
    anonymous_ctx.check_hostname = False

    async with Runtime(config) as runtime:
        runner = web.AppRunner(build_app(runtime))
        await runner.setup()
        site = web.TCPSite(
            runner,
            "127.0.0.1",
            unused_tcp_port,
            ssl_context=server_ssl_context(config.settings.http),
        )
        await site.start()
        base = f"https://127.0.0.1:{unused_tcp_port}"
        try:
            _, data = document(signers(G22), [Organ(organ_id=H41)], number=1)
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{base}/v1/packages",
                    data=data,
                    ssl=client_ctx,
                    headers={"Content-Type": "application/xml"},
                ) as r:
                    assert r.status == 202, await r.text()
                async with session.get(f"{base}/v1/outbox", ssl=client_ctx) as r:
                    assert r.status == 200
                    assert len((await r.json())["items"]) == 1
                async with session.get(f"{base}/v1/outbox", ssl=anonymous_ctx) as r:
                    assert r.status == 401
                    assert (await r.json())["code"] == "auth.required"
        finally:
            await runner.cleanup()
