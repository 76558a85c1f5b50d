"""A PKI built by the tests for long-term validation: a root with a CRL, a TSA, an OCSP
responder, an agency signer and a revoked signer, plus PDFs signed B-B, B-T, B-LT and B-LTA.

Every moment derives from ``t0`` (the signing moment), which the caller takes from a
fixture; nothing reads the clock at import time. The root's CRL is valid from ``t0 - 1h``
to ``t0 + 2 days``, so validating at ``t0 + 7 days`` ("a week later") finds it stale.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.pki import create_crl, key_usage

UNSIGNED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "pdf"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: Key) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Party:
    key: Key
    cert: x509.Certificate


@dataclass(frozen=True)
class LtvPki:
    t0: datetime  # the signing moment
    root: Party
    signer: Party
    revoked: Party  # revoked at t0 - 30 min, listed in ``crl``
    tsa: Party
    responder: Party  # delegated OCSP responder (id-kp-OCSPSigning) of the root
    crl: x509.CertificateRevocationList  # thisUpdate t0-1h, nextUpdate t0+2d

    @property
    def week_later(self) -> datetime:
        return self.t0 + timedelta(days=7)

    def fresh_crl(self, at: datetime) -> x509.CertificateRevocationList:
        """A CRL issued at ``at`` (valid one day), listing the revoked signer."""
        return create_crl(
            self.root.key,
            self.root.cert,
            [(self.revoked.cert.serial_number, self.t0 - timedelta(minutes=30))],
            at + timedelta(days=1),
            last_update=at - timedelta(minutes=1),
        )


def _issue(
    root: Party | None,
    cn: str,
    t0: datetime,
    *,
    eku: x509.ObjectIdentifier | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    rsa_key: bool = False,
    valid_days: int | None = None,
) -> Party:
    # pyHanko's test time-stamper signs with RSA only; everything else is EC (fast keygen).
    key: Key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    issuer_key = root.key if root else key
    issuer_name = root.cert.subject if root else _name(cn)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(t0 - timedelta(days=30))
        .not_valid_after(t0 + timedelta(days=valid_days or (3650 if root is None else 700)))
        .add_extension(ski, critical=False)
    )
    if root is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).add_extension(key_usage(ca=True), critical=True)
    else:
        root_ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .add_extension(
                key_usage(non_repudiation=eku is None),
                critical=True,
            )
        )
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
        if crl_url:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(crl_url)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
        if ocsp_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(ocsp_url),
                        )
                    ]
                ),
                critical=False,
            )
    return Party(key, builder.sign(issuer_key, hashes.SHA256()))


def build_pki(t0: datetime, *, crl_url: str | None = None, ocsp_url: str | None = None) -> LtvPki:
    """The PKI, with certificates valid from ``t0 - 30 days``. ``crl_url``/``ocsp_url`` go
    into the end-entity certificates (CRL distribution point, AIA OCSP)."""
    root = _issue(None, "LTV Test Root", t0)
    signer = _issue(root, "Sở Tư pháp (ký số)", t0, crl_url=crl_url, ocsp_url=ocsp_url)
    revoked = _issue(root, "Revoked signer", t0, crl_url=crl_url, ocsp_url=ocsp_url)
    tsa = _issue(
        root,
        "LTV Test TSA",
        t0,
        eku=ExtendedKeyUsageOID.TIME_STAMPING,
        crl_url=crl_url,
        rsa_key=True,
    )
    responder = _issue(root, "LTV Test OCSP", t0, eku=ExtendedKeyUsageOID.OCSP_SIGNING)
    crl = create_crl(
        root.key,
        root.cert,
        [(revoked.cert.serial_number, t0 - timedelta(minutes=30))],
        t0 + timedelta(days=2),
        last_update=t0 - timedelta(hours=1),
    )
    return LtvPki(t0, root, signer, revoked, tsa, responder, crl)


def issue_tsa(pki: LtvPki, cn: str, *, valid_days: int) -> Party:
    """Another TSA under the test root, valid from ``t0 - 30 days`` to ``t0 + valid_days``."""
    return _issue(
        pki.root,
        cn,
        pki.t0,
        eku=ExtendedKeyUsageOID.TIME_STAMPING,
        rsa_key=True,
        valid_days=valid_days,
    )


def add_document_timestamp(
    pki: LtvPki,
    data: bytes,
    tsa: Party,
    at: datetime,
    crl: x509.CertificateRevocationList,
) -> bytes:
    """Append a document time-stamp by ``tsa`` dated ``at`` (archive renewal), with the
    revocation data ``crl`` added to the DSS for what came before."""
    root = _asn1(pki.root.cert)
    stamper = DummyTimeStamper(
        tsa_cert=_asn1(tsa.cert),
        tsa_key=_asn1_key(tsa.key),
        certs_to_embed=SimpleCertificateStore.from_certs([root]),
        fixed_dt=at,
    )
    context = ValidationContext(
        trust_roots=[root],
        crls=[crl.public_bytes(serialization.Encoding.DER)],
        allow_fetching=False,
        moment=at,
        revocation_mode="soft-fail",
    )

    async def run() -> bytes:
        out = await signers.PdfTimeStamper(stamper).async_timestamp_pdf(
            IncrementalPdfFileWriter(BytesIO(data)), "sha256", validation_context=context
        )
        return bytes(out.getvalue())

    return asyncio.run(run())


def sign_pdf(
    pki: LtvPki, level: str, *, signer: Party | None = None, tsa: Party | None = None
) -> bytes:
    """``minimal.pdf`` signed at ``pki.t0`` at PAdES level B-B, B-T, B-LT or B-LTA.

    The time-stamps come from a TSA at ``pki.t0`` (pyHanko's test time-stamper with the
    test TSA key); B-LT and B-LTA embed the root's CRL in the DSS.
    """
    who = signer or pki.signer
    root = _asn1(pki.root.cert)
    pdf_signer = signers.SimpleSigner(
        signing_cert=_asn1(who.cert),
        signing_key=_asn1_key(who.key),
        cert_registry=SimpleCertificateStore.from_certs([root]),
    )
    stamp_by = tsa or pki.tsa
    stamper = DummyTimeStamper(
        tsa_cert=_asn1(stamp_by.cert),
        tsa_key=_asn1_key(stamp_by.key),
        certs_to_embed=SimpleCertificateStore.from_certs([root]),
        fixed_dt=pki.t0,
    )
    lt = level in ("B-LT", "B-LTA")
    context = ValidationContext(
        trust_roots=[root],
        crls=[pki.crl.public_bytes(serialization.Encoding.DER)],
        allow_fetching=False,
        moment=pki.t0,
        revocation_mode="hard-fail",
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Sig1",
        subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=lt,
        use_pades_lta=level == "B-LTA",
        validation_context=context if lt else None,
    )
    writer = IncrementalPdfFileWriter(BytesIO((UNSIGNED / "unsigned" / "minimal.pdf").read_bytes()))
    pdf = signers.PdfSigner(
        meta, signer=pdf_signer, timestamper=None if level == "B-B" else stamper
    )

    async def run() -> bytes:
        out = await pdf.async_sign_pdf(writer)
        return bytes(out.getvalue())

    return asyncio.run(run())


def tamper(data: bytes) -> bytes:
    """Flip one byte inside the first signed byte range (the page object)."""
    out = bytearray(data)
    pos = out.index(b"/Type /Page")
    out[pos + 1] = ord("t")
    return bytes(out)
