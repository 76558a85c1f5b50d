"""Signed checkpoints: the heads of every chain at one instant, signed by the hub.

A checkpoint is a small XML document signed with the hub's receipt key under the same
enveloped XMLDSig profile as receipts, so ``xmlsec1 --verify`` checks it without this code::

    <Checkpoint xmlns="urn:vnhub:audit:1" version="1">
      <Header>
        <Hub>hub</Hub><Id>7</Id><At>2026-03-02T01:30:00.000000Z</At>
        <Previous>sha256 of checkpoint 6's exact bytes (64 zeros for the first)</Previous>
        <Chain id="…" seq="41" hash="…"/> …
        <ds:Signature>…</ds:Signature>
      </Header>
    </Checkpoint>

``Previous`` links checkpoints into a chain of their own, so deleting or replacing one in the
middle is visible. Checkpoints are written by every worker (each reads every chain's head),
serialised by a lock that only checkpoint writers take.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from hub.audit.chain import GENESIS, format_at
from hub.receipts import ReceiptSigner
from hub.store.records import ChainHead
from signing import SignaturePolicy, verify_enveloped

AUDIT_NS = "urn:vnhub:audit:1"
SIGNATURE_PARENT: tuple[str, ...] = (f"{{{AUDIT_NS}}}Checkpoint", f"{{{AUDIT_NS}}}Header")
CHECKPOINT_POLICY = SignaturePolicy(signature_parent=SIGNATURE_PARENT)


def _q(name: str) -> str:
    return f"{{{AUDIT_NS}}}{name}"


@dataclass(frozen=True, slots=True)
class CheckpointFacts:
    """What a checkpoint states."""

    hub_id: str
    id: int
    at: datetime
    previous: str
    heads: tuple[tuple[str, int, str], ...]  # (chain_id, chain_seq, hash), by chain id


def document_sha256(document: bytes | None) -> str:
    """What the next checkpoint's ``Previous`` holds for ``document``."""
    return GENESIS if document is None else hashlib.sha256(document).hexdigest()


def build_checkpoint(facts: CheckpointFacts) -> bytes:
    """The unsigned checkpoint document."""
    root = etree.Element(_q("Checkpoint"), nsmap={None: AUDIT_NS}, version="1")  # type: ignore[dict-item]  # lxml-stubs: None is the default namespace
    header = etree.SubElement(root, _q("Header"))
    etree.SubElement(header, _q("Hub")).text = facts.hub_id
    etree.SubElement(header, _q("Id")).text = str(facts.id)
    etree.SubElement(header, _q("At")).text = format_at(facts.at)
    etree.SubElement(header, _q("Previous")).text = facts.previous
    for chain_id, seq, hash_ in facts.heads:
        etree.SubElement(header, _q("Chain"), id=chain_id, seq=str(seq), hash=hash_)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sign_checkpoint(
    signer: ReceiptSigner,
    hub_id: str,
    checkpoint_id: int,
    previous: bytes | None,
    heads: Sequence[ChainHead],
    at: datetime,
) -> bytes:
    """Build and sign checkpoint ``checkpoint_id`` (chains with no event yet are left out)."""
    facts = CheckpointFacts(
        hub_id=hub_id,
        id=checkpoint_id,
        at=at,
        previous=document_sha256(previous),
        heads=tuple(
            (h.chain_id, h.head_seq, h.head_hash)
            for h in sorted(heads, key=lambda h: h.chain_id)
            if h.head_seq > 0
        ),
    )
    return signer.sign_xml(build_checkpoint(facts), SIGNATURE_PARENT)


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature verified, with the certificate that signed it."""

    facts: CheckpointFacts
    fingerprint_sha256: str


def verify_checkpoint(
    document: bytes, published_fingerprints: frozenset[str]
) -> VerifiedCheckpoint:
    """Check the signature and that the signer is one of the hub's published receipt
    certificates; read the facts from the signed content only. Raises ``ValueError``."""
    try:
        verified = verify_enveloped(document, CHECKPOINT_POLICY)
    except Exception as exc:  # any signing error: the checkpoint is not authentic
        raise ValueError(f"signature does not verify: {exc}") from exc
    if verified.fingerprint_sha256.lower() not in published_fingerprints:
        raise ValueError("signed by a certificate that is not a published hub receipt certificate")
    header = verified.signed_root.find(_q("Header"))
    if header is None:
        raise ValueError("not a checkpoint")

    def text(name: str) -> str:
        el = header.find(_q(name))
        return (el.text or "") if el is not None else ""

    heads = tuple(
        (el.get("id", ""), int(el.get("seq", "0")), el.get("hash", ""))
        for el in header.iterfind(_q("Chain"))
    )
    return VerifiedCheckpoint(
        facts=CheckpointFacts(
            hub_id=text("Hub"),
            id=int(text("Id")),
            at=datetime.strptime(text("At"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            previous=text("Previous"),
            heads=heads,
        ),
        fingerprint_sha256=verified.fingerprint_sha256.lower(),
    )
