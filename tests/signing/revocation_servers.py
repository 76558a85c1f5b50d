"""Real local revocation servers for the online-revocation tests.

* A CRL served over HTTP by a ``http.server`` on 127.0.0.1 (ephemeral port).
* An OCSP responder: ``openssl ocsp`` answering from a CA index file. ``openssl ocsp
  -port`` binds every interface (no bind-address option in OpenSSL 3.0), so the HTTP side
  is the same 127.0.0.1 server, which hands each DER request to ``openssl ocsp -reqin …
  -respout …`` and returns OpenSSL's signed response unchanged.

Each path can be switched "down" (HTTP 503), to test unreachable sources without timing.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .ltv_pki import LtvPki, Party, build_pki

#: The responders run ``openssl``: the ``openssl`` fixture (tests/conftest.py) installs it, or
#: skips with the reason printed, or fails under HUB_REQUIRE_SERVICES=1.
NEEDS_OPENSSL = pytest.mark.usefixtures("openssl")


@dataclass
class Servers:
    base_url: str
    workdir: Path
    crl_der: bytes = b""
    down: set[str] = field(default_factory=set)  # "/crl" and/or "/ocsp"
    requests: list[str] = field(default_factory=list)
    ocsp_ready: bool = False

    @property
    def crl_url(self) -> str:
        return self.base_url + "/crl"

    @property
    def ocsp_url(self) -> str:
        return self.base_url + "/ocsp"

    def serve_crl(self, crl: x509.CertificateRevocationList) -> None:
        self.crl_der = crl.public_bytes(serialization.Encoding.DER)

    def answer_for(
        self, pki: LtvPki, *, crl_at: datetime | None = None, also_good: tuple[Party, ...] = ()
    ) -> None:
        """Both sources answer for ``pki``: its CRL issued at ``crl_at`` (default ``t0``), and
        OCSP saying good for the signer (and ``also_good``), revoked for the revoked signer
        (half an hour before ``t0``)."""
        self.serve_crl(pki.fresh_crl(pki.t0 if crl_at is None else crl_at))
        self.configure_ocsp(
            pki.root.cert,
            pki.responder,
            good=[pki.signer.cert, *(p.cert for p in also_good)],
            revoked=[(pki.revoked.cert, pki.t0 - timedelta(minutes=30))],
        )

    def configure_ocsp(
        self,
        ca: x509.Certificate,
        responder: Party,
        good: list[x509.Certificate],
        revoked: list[tuple[x509.Certificate, datetime]],
    ) -> None:
        """Write the CA database ``openssl ocsp -index`` reads (V/R lines, tab-separated)."""
        (self.workdir / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (self.workdir / "responder.pem").write_bytes(
            responder.cert.public_bytes(serialization.Encoding.PEM)
        )
        (self.workdir / "responder.key").write_bytes(
            responder.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

        def when(moment: datetime) -> str:
            return moment.astimezone(UTC).strftime("%y%m%d%H%M%SZ")

        lines = [
            f"V\t{when(c.not_valid_after_utc)}\t\t{c.serial_number:X}\tunknown\t/CN=x" for c in good
        ] + [
            f"R\t{when(c.not_valid_after_utc)}\t{when(at)}\t{c.serial_number:X}\tunknown\t/CN=x"
            for c, at in revoked
        ]
        (self.workdir / "index.txt").write_text("\n".join(lines) + "\n")
        (self.workdir / "index.txt.attr").write_text("unique_subject = no\n")
        self.ocsp_ready = True

    def ocsp_answer(self, request: bytes) -> bytes:
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            req, resp = Path(tmp) / "req.der", Path(tmp) / "resp.der"
            req.write_bytes(request)
            subprocess.run(
                [
                    "openssl",
                    "ocsp",
                    "-index",
                    str(self.workdir / "index.txt"),
                    "-CA",
                    str(self.workdir / "ca.pem"),
                    "-rsigner",
                    str(self.workdir / "responder.pem"),
                    "-rkey",
                    str(self.workdir / "responder.key"),
                    "-reqin",
                    str(req),
                    "-respout",
                    str(resp),
                    "-nmin",
                    "60",
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            return resp.read_bytes()


def _handler(servers: Servers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            servers.requests.append("GET " + self.path)
            if self.path != "/crl" or "/crl" in servers.down or not servers.crl_der:
                self._reply(503, b"down", "text/plain")
                return
            self._reply(200, servers.crl_der, "application/pkix-crl")

        def do_POST(self) -> None:
            servers.requests.append("POST " + self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/ocsp" or "/ocsp" in servers.down or not servers.ocsp_ready:
                self._reply(503, b"down", "text/plain")
                return
            self._reply(200, servers.ocsp_answer(body), "application/ocsp-response")

    return Handler


@contextmanager
def revocation_servers(workdir: Path) -> Iterator[Servers]:
    """Start the HTTP side on 127.0.0.1, an ephemeral port; stop it on exit."""
    servers = Servers("", workdir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(servers))
    host, port = server.server_address[:2]
    servers.base_url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield servers
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module", name="servers")
def servers_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The ``servers`` fixture: revocation servers for one test module (import it where it is
    needed; its own name keeps test parameters from shadowing the import)."""
    with revocation_servers(tmp_path_factory.mktemp("revocation")) as running:
        yield running


def online_pki(servers: Servers, *, ocsp: bool = True) -> LtvPki:
    """The LTV test PKI from the fixture's one clock reading (whole seconds), its end-entity
    certificates pointing at ``servers``' CRL and (unless ``ocsp`` is off) OCSP responder."""
    return build_pki(
        datetime.now(UTC).replace(microsecond=0),
        crl_url=servers.crl_url,
        ocsp_url=servers.ocsp_url if ocsp else None,
    )
