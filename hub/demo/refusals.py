"""Deliberately refused packages: one or more of every kind, each with the code and HTTP
status the hub must answer. They run alongside the stream, as real mistakes and attacks do.

Real samples come from ``../shared/testdata`` (the malformed SDK packages, the SDK's update
with its placeholder signature, an unsigned status sample, XML bombs); when that directory
is missing those cases are skipped with a note, and the generated ones still run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from lxml import etree

from hub.client import HubProblem
from hub.demo.agents import COMMUNE, G22, H41, Agencies, Ledger, Sent, shared_testdata
from hub.demo.factory import Signer, document
from hub.edxml import Organ
from hub.edxml.schema import EDXML_NS
from signing.pki import create_ca, issue_certificate

G17 = "000.00.00.G17"
H14 = "000.00.00.H14"  # sends the oversized package (H29 runs the dossier flow)
UNKNOWN = "000.00.00.H99"  # a well-formed code no agency is registered under

#: Plan numbers start at 1; generated refusals use numbers no plan reaches.
_BASE = 900_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """One refused submission: what was expected and what the hub answered."""

    name: str
    caller: str
    expected_code: str
    expected_status: int
    code: str
    status: int
    size: int

    @property
    def ok(self) -> bool:
        """The hub answered exactly the expected code and status."""
        return (self.code, self.status) == (self.expected_code, self.expected_status)


@dataclass
class Refusals:
    """The outcomes and what was skipped."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _read_if_present(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _bad_from_code(root: etree._Element) -> None:
    """A From/OrganId written the wrong way round: a schema violation."""
    e = f"{{{EDXML_NS}}}"
    el = root.find(f"{e}edXMLEnvelope/{e}edXMLHeader/{e}MessageHeader/{e}From/{e}OrganId")
    assert el is not None
    el.text = "G22.00.00.000"


async def run_refusals(
    agencies: Agencies, ledger: Ledger, base_url: str, max_package_bytes: int
) -> Refusals:
    """Submit every refusal case; the results are compared by the self-check."""
    result = Refusals()
    signers = agencies.signers
    organ = agencies.organ

    async def submit(name: str, caller: str, code: str, status: int, data: bytes) -> None:
        try:
            answer = await agencies.clients[caller].submit(data)
        except HubProblem as exc:
            got_code, got_status = exc.code, exc.status
        except aiohttp.ClientError as exc:
            got_code, got_status = f"client error: {type(exc).__name__}", 0
        else:
            got_code, got_status = "accepted", 202 if answer.created else 200
            # Something meant to be refused got in: track it so the counts stay honest.
            ledger.anomalies.append(f"{name}: accepted as {answer.package_id}")
            sent = Sent(
                sha256=hashlib.sha256(data).hexdigest(),
                sender=caller,
                kind="refusal",
                document_id=name,
                data=data,
                expected_recipients=(),
                package_id=answer.package_id,
                created=answer.created,
                recipients=answer.recipients,
            )
            ledger.expect(sent)
        result.outcomes.append(Outcome(name, caller, code, status, got_code, got_status, len(data)))

    def fresh(
        sender: Signer,
        n: int,
        to: tuple[str, ...] = (H41,),
        *,
        attachments: int = 1,
        attachment_size: int = 8_000,
    ) -> bytes:
        return document(
            sender,
            [organ(r) if r in agencies.specs else Organ(organ_id=r) for r in to],
            number=_BASE + n,
            attachments=attachments,
            attachment_size=attachment_size,
        )[1]

    async def sample(name: str, caller: str, code: str, status: int, *parts: str) -> None:
        path = shared_testdata().joinpath(*parts)
        data = await asyncio.to_thread(_read_if_present, path)
        if data is None:
            result.skipped.append(f"{name}: {path} not found")
            return
        await submit(name, caller, code, status, data)

    await sample(
        "malformed SDK sample: garbage before the root",
        COMMUNE,
        "xml.not_well_formed",
        400,
        "edxml",
        "malformed_leading_garbage.edxml",
    )
    await sample(
        "malformed SDK sample: undeclared prefix",
        COMMUNE,
        "xml.not_well_formed",
        400,
        "edxml",
        "malformed_undeclared_prefix.edxml",
    )
    await sample(
        "billion laughs (DTD entities)",
        G22,
        "xml.dtd_forbidden",
        400,
        "xmldsig",
        "defusedxml-test-data",
        "xmlbomb.xml",
    )
    await sample(
        "external entity (XXE)",
        G22,
        "xml.dtd_forbidden",
        400,
        "xmldsig",
        "defusedxml-test-data",
        "external.xml",
    )
    await sample(
        "SDK update sample with its placeholder signature",
        G22,
        "signature.profile",
        403,
        "edxml",
        "edoc_update.edxml",
    )
    await sample(
        "SDK status sample, unsigned", H41, "signature.missing", 403, "edxml", "status.edxml"
    )

    signed = fresh(signers[G22], 1)
    await submit(
        "From/OrganId written backwards", G22, "schema.invalid", 422, _edit(signed, _bad_from_code)
    )
    tampered = signed.replace("Hà Nội".encode(), "Hải Phòng".encode(), 1)
    await submit("text changed after signing", G22, "signature.invalid", 403, tampered)

    def rogue_signer() -> Signer:
        ca_key, ca_cert = create_ca("Untrusted CA")
        key, cert = issue_certificate(ca_key, ca_cert, "Văn phòng Chính phủ (giả mạo)")
        return Signer(organ_id=G22, name="rogue", key=key, certificate=cert)

    rogue = await asyncio.to_thread(rogue_signer)
    await submit(
        "certificate from a CA the hub does not trust",
        G22,
        "signature.untrusted",
        403,
        fresh(rogue, 2),
    )
    impostor = Signer(
        organ_id=G22, name="impostor", key=signers[G17].key, certificate=signers[G17].certificate
    )
    await submit(
        "G17's certificate signing as G22",
        G22,
        "signature.signer_mismatch",
        403,
        fresh(impostor, 3),
    )
    await submit(
        "addressed to an unregistered agency",
        G22,
        "route.unknown_recipient",
        422,
        fresh(signers[G22], 4, (H41, UNKNOWN)),
    )
    await submit(
        "G17 submitting a package From G22", G17, "auth.forbidden", 403, fresh(signers[G22], 5)
    )
    await _unauthenticated(result, base_url, fresh(signers[G22], 6))
    await _conflict(agencies, ledger, submit)

    def oversized() -> bytes:
        # A scanned dossier a little over the limit: attachments of incompressible bytes.
        per = max_package_bytes // 5 + 1
        return fresh(signers[H14], 7, ("000.00.00.H12",), attachments=4, attachment_size=per)

    big = await asyncio.to_thread(oversized)
    if len(big) <= max_package_bytes:  # pragma: no cover - guards the arithmetic above
        ledger.anomalies.append(f"the oversized package is only {len(big)} bytes")
    await submit(
        f"{len(big) / 1e6:.1f} MB, over the {max_package_bytes / 2**20:g} MiB limit",
        H14,
        "package.too_large",
        413,
        big,
    )
    return result


async def _unauthenticated(result: Refusals, base_url: str, data: bytes) -> None:
    """No bearer token, then a wrong one: both ``401 auth.required``."""
    async with aiohttp.ClientSession() as session:
        for name, headers in (
            ("no bearer token", {}),
            ("an unknown bearer token", {"Authorization": "Bearer not-a-token-of-anyone"}),
        ):
            async with session.post(
                f"{base_url}/v1/packages",
                data=data,
                headers={**headers, "Content-Type": "application/xml"},
            ) as resp:
                try:
                    code = str((await resp.json(content_type=None)).get("code"))
                except ValueError:
                    code = f"http.{resp.status}"
                result.outcomes.append(
                    Outcome(name, "-", "auth.required", 401, code, resp.status, len(data))
                )


async def _conflict(
    agencies: Agencies,
    ledger: Ledger,
    submit: Callable[[str, str, str, int, bytes], Awaitable[None]],
) -> None:
    """Reuse an accepted new document's DocumentId with other content: ``409``."""
    while True:
        accepted = [
            s
            for s in ledger.documents.values()
            if s.created and s.business_doc_type == 0 and s.plan is not None
        ]
        if accepted:
            break
        if (
            ledger.documents
            and all(s.accepted.is_set() for s in ledger.documents.values())
            and len(ledger.documents) > 5
        ):
            ledger.anomalies.append("package.conflict case: no accepted document to reuse")
            return
        await asyncio.sleep(0.02)
    original = accepted[0]
    assert original.plan is not None
    document_id, data, _ = agencies.build_document(
        original.plan, when=original.when, attachments=original.plan.attachments + 1
    )
    if document_id != original.document_id:
        ledger.anomalies.append(f"conflict case built {document_id}, not {original.document_id}")
    await submit(
        "a DocumentId already sent, other content", original.sender, "package.conflict", 409, data
    )
