"""Long-term validation of PAdES files (issue 14): a PKI built here (root with a CRL, TSA,
OCSP responder), PDFs signed B-B, B-T, B-LT, B-LTA at ``t0`` and validated a week later,
when the root's CRL (valid ``t0 - 1h`` … ``t0 + 2 days``) is past its nextUpdate.

The signing moment ``t0`` comes from a fixture and the validation time is injected
(``t0 + 7 days``); no test depends on the distance to the wall clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from signing import StaticRevocationChecker, TrustStore, validate_pdf
from signing.pades import PdfReport
from signing.pki import create_crl

from .ltv_pki import (
    UNSIGNED,
    LtvPki,
    add_document_timestamp,
    build_pki,
    issue_tsa,
    sign_pdf,
    tamper,
)

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


@pytest.fixture(autouse=True)
def _quiet_pyhanko() -> Iterator[None]:
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("pyhanko").setLevel(logging.NOTSET)


@pytest.fixture(scope="module", params=["plain", "with-urls"])
def pki(request: pytest.FixtureRequest) -> LtvPki:
    # The one clock reading: the signing moment; every other moment derives from it.
    # "with-urls": certificates declaring a CRL distribution point and an OCSP responder,
    # as real ones do (never fetched here: revocation comes from files and the DSS). With
    # those, pyhanko-certvalidator's own revocation check made B-LT/B-LTA indeterminate a
    # week later even with revocation off — the report of issue 14.
    t0 = datetime.now(UTC).replace(microsecond=0)
    if request.param == "plain":
        return build_pki(t0)
    return build_pki(
        t0, crl_url="http://crl.test.invalid/root.crl", ocsp_url="http://ocsp.test.invalid/"
    )


@pytest.fixture(scope="module")
def pdfs(pki: LtvPki) -> dict[str, bytes]:
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    return {level: sign_pdf(pki, level) for level in LEVELS}


def _check(
    pki: LtvPki,
    data: bytes,
    *,
    crls: tuple[x509.CertificateRevocationList, ...] = (),
    mode: str = "hard-fail",
    at: datetime | None = None,
) -> PdfReport:
    checker = StaticRevocationChecker(crls, mode=mode)  # type: ignore[arg-type]
    trust = TrustStore([pki.root.cert], revocation=checker)
    return validate_pdf(data, trust, at=at or pki.week_later)


# Only the root as anchor, a week after signing, hard-fail: (verdict without the stale CRL
# supplied, verdict with it supplied as the hub's revocation data).
EXPECTED = {
    "B-B": ("indeterminate", "indeterminate"),  # no time-stamp: nothing proves an older time
    "B-T": ("indeterminate", "valid"),  # time-stamp, but revocation data only if supplied
    "B-LT": ("valid", "valid"),  # time-stamp + CRL in the DSS valid at the time-stamp
    "B-LTA": ("valid", "valid"),  # same, and a document time-stamp chain
}


@pytest.mark.parametrize("level", LEVELS)
def test_verdicts_a_week_later(level: str, pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    without, with_crl = EXPECTED[level]
    report = _check(pki, pdfs[level])
    assert report.verdict == without, report
    report = _check(pki, pdfs[level], crls=(pki.crl,))
    assert report.verdict == with_crl, report


def test_crl_really_is_stale_a_week_later(pki: LtvPki) -> None:
    """The premise: the CRL covered the time-stamp, not the validation time."""
    assert pki.crl.last_update_utc <= pki.t0 <= pki.crl.next_update_utc  # type: ignore[operator]
    assert pki.crl.next_update_utc < pki.week_later  # type: ignore[operator]


@pytest.mark.parametrize("level", LEVELS)
def test_all_valid_at_signing_time(level: str, pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    report = _check(pki, pdfs[level], crls=(pki.crl,), at=pki.t0 + timedelta(minutes=1))
    assert report.verdict == "valid", report
    assert all(
        s.validated_at == (pki.t0 + timedelta(minutes=1)).isoformat() for s in report.signatures
    )


def test_b_b_valid_with_fresh_revocation_data(pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    report = _check(pki, pdfs["B-B"], crls=(pki.fresh_crl(pki.week_later),))
    assert report.verdict == "valid"
    assert report.signatures[0].validated_at == pki.week_later.isoformat()


def test_b_b_reasons_and_subindication(pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    (sig,) = _check(pki, pdfs["B-B"], crls=(pki.crl,)).signatures
    assert sig.reasons == ("pdf.revocation_unknown",)
    assert sig.subindication == "TRY_LATER"
    assert sig.timestamp_time is None


def test_b_t_without_data_says_why(pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    (sig,) = _check(pki, pdfs["B-T"]).signatures
    assert (sig.verdict, sig.reasons, sig.subindication) == (
        "indeterminate",
        ("pdf.revocation_unknown",),
        "TRY_LATER",
    )
    assert "time-stamp" in sig.detail


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
def test_long_term_result_names_the_time_stamp(
    level: str, pki: LtvPki, pdfs: dict[str, bytes]
) -> None:
    report = _check(pki, pdfs[level], crls=(pki.crl,))
    sig = report.signatures[0]
    assert sig.kind == "signature" and sig.verdict == "valid"
    assert sig.timestamp_time == pki.t0.isoformat()
    assert sig.validated_at == pki.t0.isoformat()  # the best signature time
    assert sig.subindication is None and sig.revocation == "good"


def test_b_lta_document_time_stamp(pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    report = _check(pki, pdfs["B-LTA"])
    assert [(s.kind, s.verdict) for s in report.signatures] == [
        ("signature", "valid"),
        ("timestamp", "valid"),
    ]
    doc_ts = report.signatures[1]
    assert doc_ts.timestamp_time == pki.t0.isoformat()
    assert doc_ts.validated_at == pki.week_later.isoformat()


@pytest.mark.parametrize("level", LEVELS)
def test_revocation_off_is_valid(level: str, pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    assert _check(pki, pdfs[level], crls=(pki.crl,), mode="off").verdict == "valid"


@pytest.mark.parametrize("level", LEVELS)
def test_tampered_is_invalid(level: str, pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    report = _check(pki, tamper(pdfs[level]), crls=(pki.crl,))
    assert report.verdict == "invalid", report
    sig = report.signatures[0]
    assert "pdf.not_intact" in sig.reasons
    assert sig.subindication == "HASH_FAILURE"


def test_unsigned(pki: LtvPki) -> None:
    data = (UNSIGNED / "unsigned" / "minimal.pdf").read_bytes()
    assert _check(pki, data).verdict == "unsigned"


def test_signer_revoked_before_the_time_stamp_is_invalid(pki: LtvPki) -> None:
    """Revoked 30 min before signing: the time-stamp cannot help (revoked at g too)."""
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    data = sign_pdf(pki, "B-T", signer=pki.revoked)
    for crls in ((pki.crl,), (pki.fresh_crl(pki.week_later),)):
        report = _check(pki, data, crls=crls)
        assert report.verdict == "invalid", report
        assert report.signatures[0].reasons == ("pdf.revoked",)
        assert report.signatures[0].subindication == "REVOKED"


def test_signer_revoked_after_the_time_stamp_stays_valid(pki: LtvPki) -> None:
    """ETSI past signature validation: revocation after the POE does not invalidate."""
    later_crl = create_crl(
        pki.root.key,
        pki.root.cert,
        [(pki.signer.cert.serial_number, pki.t0 + timedelta(days=3))],
        pki.week_later + timedelta(days=1),
        last_update=pki.week_later - timedelta(hours=1),
    )
    report = _check(pki, sign_pdf(pki, "B-T"), crls=(pki.crl, later_crl))
    assert report.verdict == "valid", report
    # Without a time-stamp the same revocation is final.
    report = _check(pki, sign_pdf(pki, "B-B"), crls=(pki.crl, later_crl))
    assert report.verdict == "invalid"
    assert report.signatures[0].reasons == ("pdf.revoked",)


def test_three_days_later_the_crl_is_already_stale(pki: LtvPki) -> None:
    """Just past nextUpdate (t0 + 3 days): B-B is indeterminate, B-LT validates at its
    time-stamp."""
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    at = pki.t0 + timedelta(days=3)
    assert _check(pki, sign_pdf(pki, "B-B"), crls=(pki.crl,), at=at).verdict == "indeterminate"
    assert _check(pki, sign_pdf(pki, "B-LT"), at=at).verdict == "valid"


def test_unknown_anchor_is_invalid(pki: LtvPki, pdfs: dict[str, bytes]) -> None:
    other = build_pki(pki.t0)
    trust = TrustStore(
        [other.root.cert], revocation=StaticRevocationChecker((pki.crl,), mode="hard-fail")
    )
    report = validate_pdf(pdfs["B-LTA"], trust, at=pki.week_later)
    assert report.verdict == "invalid"
    assert "pdf.untrusted" in report.signatures[0].reasons


def test_document_time_stamps_are_followed_as_a_chain(pki: LtvPki) -> None:
    """The TSA of the signature and first document time-stamp expires at t0 + 3 days; a
    second document time-stamp at t0 + 2 days (archive renewal, fresh CRL in the DSS) proves
    the first one existed while its TSA was valid. A week later: without the renewal the
    file is indeterminate (OUT_OF_BOUNDS_NO_POE), with it valid."""
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    short = issue_tsa(pki, "Short-lived TSA", valid_days=3)
    data = sign_pdf(pki, "B-LTA", tsa=short)
    g2 = pki.t0 + timedelta(days=2)
    renewed = add_document_timestamp(pki, data, pki.tsa, g2, pki.fresh_crl(g2))

    report = _check(pki, data)
    assert report.verdict == "indeterminate", report
    assert report.signatures[1].reasons == ("pdf.expired",)
    assert report.signatures[1].subindication == "OUT_OF_BOUNDS_NO_POE"

    report = _check(pki, renewed)
    assert report.verdict == "valid", report
    sig, first, second = report.signatures
    assert (sig.validated_at, sig.timestamp_time) == (pki.t0.isoformat(), pki.t0.isoformat())
    assert first.validated_at == g2.isoformat()  # POE from the renewal
    assert second.validated_at == pki.week_later.isoformat()
    assert second.timestamp_time == g2.isoformat()
