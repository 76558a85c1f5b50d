"""One list of warning codes (``hub/warning_codes.py``): documented in docs/warnings.md, used
by the modules that emit warnings, and covering every warning the hub emits in its scenarios."""

from __future__ import annotations

import re
import typing
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.dossier import parse as dossier_parse
from hub.edxml import parse as edxml_parse
from hub.edxml import parse_package
from hub.edxml.schema import validate as validate_edxml
from hub.errors import HubError
from hub.pipeline.checks import AttachmentCheck, Checked, Summary
from hub.pipeline.facts import package_warnings, pdf_warnings, signature_warnings
from hub.warning_codes import (
    LEGACY_ALGORITHM,
    WARNINGS,
    documented,
    pdf_warning,
    unknown_codes,
    warning_code,
)
from hub.xmlsafe import parse_xml
from signing.pades import PdfVerdict
from tests.conftest import PROJECT_ROOT, TESTDATA

DOC = PROJECT_ROOT / "docs" / "warnings.md"
ROW = re.compile(r"^\| `([^`]+)` \| (.+?) \| (.+?) \|$")


def doc_rows() -> list[tuple[str, str, str]]:
    return [
        (m.group(1), m.group(2), m.group(3))
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if (m := ROW.match(line))
    ]


def test_the_documented_table_is_the_list() -> None:
    """docs/warnings.md lists exactly WARNINGS, in order, with both texts."""
    assert doc_rows() == [(w.code, w.en, w.vi) for w in WARNINGS.values()]


def test_codes_are_well_formed_and_texts_nfc() -> None:
    for code, w in WARNINGS.items():
        assert code == w.code
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", code), code
        assert w.en and w.vi
        assert unicodedata.normalize("NFC", w.vi) == w.vi  # compared/indexed in NFC


def test_the_parser_constants_are_documented_codes() -> None:
    constants = {
        f"{module.__name__}.{name}": value
        for module in (edxml_parse, dossier_parse)
        for name, value in vars(module).items()
        if name.startswith("W_")
    }
    assert len(constants) >= 8  # the parsers' codes are defined there
    assert set(constants.values()) <= set(WARNINGS)
    with pytest.raises(KeyError):
        documented("edxml.not_a_documented_code")


def _scenario_packages() -> list[Path]:
    """Every edXML sample the test data holds (the hub's real-world scenarios)."""
    return sorted((TESTDATA / "edxml").glob("*.edxml")) + sorted(
        (TESTDATA / "edxml-sdk").glob("*.edxml")
    )


def test_every_warning_emitted_in_the_scenarios_is_documented() -> None:
    """The parser on every real sample, the signature's warning, every PDF verdict other than
    valid, and an attachment that could not be unpacked: all documented."""
    emitted: list[str] = []
    parsed = 0
    for path in _scenario_packages():
        try:
            root = parse_xml(path.read_bytes())
            validate_edxml(root)
        except HubError:
            continue  # the malformed samples are refused, they warn nothing
        emitted.extend(parse_package(root).warnings)
        parsed += 1
    assert parsed >= 10
    emitted.append(LEGACY_ALGORITHM)
    verdicts = [v for v in typing.get_args(PdfVerdict) if v != "valid"] + ["unsafe"]
    attachments = tuple(AttachmentCheck("cid", f"tệp/{v}.pdf", v, "warn", "") for v in verdicts)
    emitted.extend(f"{pdf_warning(a.verdict)}:{a.path}" for a in attachments)
    assert {warning_code(w) for w in emitted} >= {
        "edxml.impossible_date",
        "edxml.document_id_mismatch",
        "signature.legacy_algorithm",
        "pdf.unsigned",
        "pdf.unsafe",
    }
    assert unknown_codes(emitted) == []


def test_ingest_states_format_then_signature_then_pdf_warnings() -> None:
    """The order the receipt, the package JSON and the trace state them in."""
    root = parse_xml((TESTDATA / "edxml" / "edoc_update.edxml").read_bytes())
    validate_edxml(root)
    package = parse_package(root)
    summary = Summary(
        kind=package.kind,
        sender=package.sender,
        recipients=package.recipients,
        reference_id=package.reference_document_id,
        business_doc_type=package.business_doc_type,
        status_code=None,
        warnings=tuple(package.warnings),
    )
    checked = Checked(
        sha256="0" * 64,
        size=1,
        package=package,
        summary=summary,
        signer_fingerprint="f" * 64,
        signer_subject="CN=x",
        signer_not_after=datetime(2030, 1, 1, tzinfo=UTC),
        signature_method="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        legacy_signature=True,
        attachments=(
            AttachmentCheck("a", "a.pdf", "valid", "warn", ""),
            AttachmentCheck("b", "Tờ trình.pdf", "unsigned", "warn", ""),
        ),
    )
    assert package_warnings(checked) == (
        *package.warnings,
        LEGACY_ALGORITHM,
        "pdf.unsigned:Tờ trình.pdf",
    )
    assert signature_warnings(replace(checked, legacy_signature=False)) == ()
    assert pdf_warnings(replace(checked, attachments=())) == ()
    with pytest.raises(KeyError):
        pdf_warning("valid")  # a valid PDF is no warning
