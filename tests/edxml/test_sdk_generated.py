"""The real national SDK (VNPT EdXML102) as generator: what it writes, the hub accepts.

``tests/edxml/sdk/GenEdxml.java`` is compiled against the SDK's jars (read in place from
``../shared/vxp-sdk/lib``) and run once per session; it writes new documents with every
optional field set and with optional fields null or empty, an update, a replacement, a
revocation and status packages for every status code with and without StaffInfo
DepartmentId/StaffId. Each file goes through the hub's own checks (safe parse, XSD, models);
a second validator (``xmlschema``) must agree with libxml2. A representative subset is
signed and submitted over HTTP.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from hub.demo.factory import Signer
from hub.demo.workdir import Workdir
from hub.edxml import EdxmlPackage, SignerInfo, StaffInfo, StatusCode, explain, parse_package
from hub.packaging import sign_package
from hub.pipeline.checks import Raw, step_parse, step_schema
from tests.api.conftest import RunningHub, start_hub

from .conftest import SdkOutput

G22, H41, H14 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"
DOC_800 = "000.00.00.G22,2026/12/05,800/VPCP-TTĐT"
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
STATUS_CODES = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
EMPTY = "edxml.empty_element"
RECEIVED = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # not used by parse and schema steps

# variant -> the warnings the hub attaches (exactly, in order)
EXPECTED: dict[str, tuple[str, ...]] = {
    "doc_full": (),
    "doc_full_no_bussiness": (),
    "doc_minimal": (),
    # The SDK drops null and empty strings: <SignerInfo/> and <ResponseFor/> stay, empty.
    "doc_optional_null": (f"{EMPTY}:{MH}/SignerInfo", f"{EMPTY}:{MH}/ResponseFor"),
    "doc_optional_empty": (f"{EMPTY}:{MH}/SignerInfo", f"{EMPTY}:{MH}/ResponseFor"),
    "update_2": (),
    "replacement_3": (),
    "revocation_1": (),
} | {
    f"status_{code}_{staff}": ()
    for code in STATUS_CODES
    for staff in ("staff_ids", "staff", "no_staff")
}


def check(sdk: SdkOutput, variant: str) -> EdxmlPackage:
    """The hub's checks before the signature: limits-free safe parse, XSD, models."""
    parsed = step_schema(step_parse(Raw(sdk.files[variant].read_bytes(), RECEIVED)))
    return parse_package(parsed.root)


def test_the_sdk_wrote_every_variant(sdk_packages: SdkOutput) -> None:
    assert "FAILED" not in sdk_packages.stderr
    assert sorted(sdk_packages.files) == sorted(EXPECTED)


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_every_sdk_package_is_accepted_with_its_warnings(
    sdk_packages: SdkOutput, variant: str
) -> None:
    pkg = check(sdk_packages, variant)
    assert pkg.warnings == EXPECTED[variant]
    assert pkg.kind == ("status" if variant.startswith("status_") else "document")


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_a_second_validator_agrees(sdk_packages: SdkOutput, variant: str) -> None:
    # xmlschema checks the XSD itself more strictly than libxml2 (e.g. Element Declarations
    # Consistent), as Java agencies' validators do.
    parsed = step_parse(Raw(sdk_packages.files[variant].read_bytes(), RECEIVED))
    assert explain(parsed.root) == []


def test_document_with_every_optional_field(sdk_packages: SdkOutput) -> None:
    pkg = check(sdk_packages, "doc_full")
    h = pkg.header
    assert h.application_type == "1"
    assert h.response_for_task == ("CV-2026-001", "CV-2026-002")
    assert [(rf.organ_id, rf.code) for rf in h.response_fors] == [(H41, "650/UBND-VP")]
    assert h.other_info is not None
    assert h.other_info.reply_fors == "700/VPCP-TTĐT"
    assert h.other_info.reference_codes == "701/VPCP-TTĐT;702/VPCP-TTĐT"
    assert h.other_info.appendixes == ("Phụ lục 1", "Phụ lục 2")
    assert h.due_date == "2026/12/31"
    assert h.signer_info == SignerInfo(
        competence="TL. BỘ TRƯỞNG", position="Cục trưởng", full_name="Nguyễn Văn A"
    )
    assert pkg.business is not None and pkg.business.business_doc_type == 0
    assert pkg.business.staff_info == StaffInfo(
        department="Văn thư văn phòng",
        department_id="VT01",
        staff="Nguyễn Thị B",
        staff_id="NV042",
        email="nguyenthib@gov.vn",
        mobile="0912345678",
    )
    assert [t.organ_id for t in pkg.trace_headers] == [G22]
    (att,) = pkg.attachments
    assert zipfile.ZipFile(io.BytesIO(att.decode())).namelist()  # the SDK zips attachments


@pytest.mark.parametrize("variant", ["doc_optional_null", "doc_optional_empty"])
def test_document_with_optional_fields_null_or_empty(sdk_packages: SdkOutput, variant: str) -> None:
    h = check(sdk_packages, variant).header
    assert h.code is not None and h.code.code_notation is None
    assert h.promulgation_info is not None and h.promulgation_info.place is None
    assert h.signer_info == SignerInfo()
    assert h.response_fors == () and h.response_for is None  # <ResponseFor/> names nothing
    assert h.due_date is None


def test_null_response_for_task_is_an_empty_tuple(sdk_packages: SdkOutput) -> None:
    assert check(sdk_packages, "doc_optional_null").header.response_for_task == ()
    assert check(sdk_packages, "doc_minimal").header.response_for_task is None


def test_update_names_the_original_and_its_receivers(sdk_packages: SdkOutput) -> None:
    pkg = check(sdk_packages, "update_2")
    assert pkg.business is not None and pkg.business.business_doc_type == 2
    assert pkg.business.document_id == DOC_800
    info = pkg.business.document_info
    assert info is not None and (info.document_info, info.document_receiver) == ("1", "1")
    assert [(r.organ_id, r.receiver_type) for r in info.receivers] == [(H41, "1"), (H14, "2")]


def test_replacement_names_the_replaced_document(sdk_packages: SdkOutput) -> None:
    pkg = check(sdk_packages, "replacement_3")
    assert pkg.business is not None and pkg.business.business_doc_type == 3
    (info,) = pkg.business.replacement_info_list
    assert (info.document_id, info.organ_ids) == (DOC_800, (H41, H14))


def test_revocation_names_the_document_once_per_recipient(sdk_packages: SdkOutput) -> None:
    pkg = check(sdk_packages, "revocation_1")
    assert pkg.business_doc_type == 1
    rfs = pkg.header.response_fors
    assert [(rf.organ_id, rf.document_id) for rf in rfs] == [(H41, DOC_800), (H14, DOC_800)]


@pytest.mark.parametrize("code", STATUS_CODES)
def test_status_packages_with_and_without_staff_ids(sdk_packages: SdkOutput, code: str) -> None:
    with_ids = check(sdk_packages, f"status_{code}_staff_ids")
    plain = check(sdk_packages, f"status_{code}_staff")
    bare = check(sdk_packages, f"status_{code}_no_staff")
    for pkg in (with_ids, plain, bare):
        assert pkg.header.status_code == StatusCode(code)
        assert pkg.reference_document_id == DOC_800
        assert pkg.recipients == (G22,)
    assert with_ids.header.staff_info is not None
    assert (with_ids.header.staff_info.department_id, with_ids.header.staff_info.staff_id) == (
        "VT01",
        "NV042",
    )
    assert plain.header.staff_info == StaffInfo(
        department="Văn thư văn phòng", staff="Nguyễn Thị B"
    )
    assert bare.header.staff_info is None


# -- over HTTP: a representative subset, signed by the hub's signer --------------------------


@pytest.fixture
async def hub(workdir: Workdir) -> AsyncIterator[RunningHub]:
    """A test hub over the default agencies (as in tests/api)."""
    async with start_hub(workdir) as running:
        yield running


async def test_sdk_packages_over_http(
    hub: RunningHub, signers: Callable[[str], Signer], sdk_packages: SdkOutput
) -> None:
    def signed(variant: str, organ_id: str) -> bytes:
        s = signers(organ_id)
        return sign_package(sdk_packages.files[variant].read_bytes(), s.key, s.certificate)

    sender, recipient = await hub.client(G22), await hub.client(H41)
    ids: dict[str, str] = {}
    for variant in ("doc_full", "doc_minimal", "doc_optional_null"):
        submitted = await sender.submit(signed(variant, G22))
        assert submitted.created and {H41, H14} <= set(submitted.recipients), variant
        trace = await sender.trace(submitted.package_id)
        assert tuple(trace["warnings"]) == EXPECTED[variant], variant
        ids[variant] = submitted.package_id
    # Statuses from Nghệ An about document 800, with and without StaffInfo ids.
    for variant in ("status_01_staff_ids", "status_03_staff", "status_05_no_staff"):
        answer = await recipient.submit(signed(variant, H41))
        assert answer.created and answer.recipients == (G22,), variant
    trace = await sender.trace(ids["doc_full"])
    assert [s["status_code"] for s in trace["statuses"]] == ["01", "03", "05"]
