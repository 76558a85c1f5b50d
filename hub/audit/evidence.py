"""``hub evidence PACKAGE_ID``: one archive a third party verifies with xmlsec1 and openssl.

Layout (``evidence-<id>/`` inside a ``.tar.gz``)::

    README.txt          what each file is and how to verify it (the commands of verify.sh)
    verify.sh           those commands; needs only sh, xmlsec1, openssl, sed, grep
    package.xml         the exact bytes received (absent once purged: PURGED.txt says when)
    receipt.xml         the hub's signed receipt (states the SHA-256 of package.xml)
    trace.json          the package's events, readable
    chain/<chain>.jsonl the canonical lines of each chain holding one of its events, from
                        the head signed by the previous checkpoint (or the chain's start)
                        to the head signed by the covering checkpoint: the chain proof
    chain/<chain>.start the hash the segment starts from (64 zeros, or the earlier head)
    checkpoints/*.xml   the signed checkpoints the proof starts and ends at
    checkpoints/*.tst   their RFC 3161 time-stamp tokens, when a TSA is configured
    acks/<OrganId>.xml  acknowledgements signed by recipients, if any
    certs/hub-*.pem     every published receipt certificate; certs/anchor-*.pem the trust
                        anchors (the hub's and the agencies' CAs); certs/tsa-*.pem the
                        time-stamp authority's anchor and chain ([audit] tsa_certs)
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from hub.audit.chain import GENESIS, canonical
from hub.audit.checkpoint import verify_checkpoint
from hub.audit.service import fingerprints, record_read, write_checkpoint
from hub.audit.tsa import TsaClient
from hub.errors import HubError
from hub.receipts import ReceiptSigner
from hub.store import Store
from hub.store.records import ChainedEvent, CheckpointRow


class EvidenceError(HubError):
    """The evidence archive cannot be produced (unknown package, chain not verifiable)."""

    code = "audit.evidence"
    status = 409
    title = "Evidence archive cannot be produced"


@dataclass(frozen=True, slots=True)
class _Segment:
    chain_id: str
    start_hash: str
    start_checkpoint: CheckpointRow | None
    end_checkpoint: CheckpointRow
    lines: list[ChainedEvent]


def _covering(
    checkpoints: list[CheckpointRow], chain_id: str, position: int, published: frozenset[str]
) -> tuple[CheckpointRow | None, int, str, CheckpointRow] | None:
    """The first checkpoint whose head of ``chain_id`` is at or past ``position``, and the
    latest earlier checkpoint's head below it (where the proof may start)."""
    start: tuple[CheckpointRow | None, int, str] = (None, 0, GENESIS)
    for row in checkpoints:
        facts = verify_checkpoint(row.document, published).facts
        for cid, seq, hash_ in facts.heads:
            if cid != chain_id:
                continue
            if seq >= position:
                return start[0], start[1], start[2], row
            start = (row, seq, hash_)
    return None


async def export_evidence(
    store: Store,
    signer: ReceiptSigner,
    hub_id: str,
    package_id: str,
    out: Path,
    *,
    anchors: tuple[Path, ...] = (),
    actor: str = "operator",
    tsa: TsaClient | None = None,
    tsa_certs: tuple[Path, ...] = (),
) -> Path:
    """Write the archive for ``package_id`` to ``out``; the read is audited first, and a
    fresh checkpoint is written so every event of the package is covered by one."""
    record = await store.get_package(package_id)
    if record is None:
        raise EvidenceError(f"no package {package_id}")
    await record_read(
        store, package_id, actor, "evidence export", (record.sender, *record.recipients)
    )
    backend = store.audit()
    await write_checkpoint(store, signer, hub_id, tsa=tsa)
    published = fingerprints(signer)
    checkpoints = await backend.checkpoints()
    events = await backend.events_for(package_id)
    data = await store.get_bytes(package_id)
    purged = await backend.purged_at(package_id)
    receipt = await store.get_receipt(package_id)

    positions: dict[str, list[int]] = {}
    for ev in events:
        if ev.chain_id is not None and ev.chain_seq is not None:
            positions.setdefault(ev.chain_id, []).append(ev.chain_seq)
        # legacy events (written before the chain existed) are in trace.json only
    segments: dict[str, _Segment] = {}
    for chain_id, ns in positions.items():
        first = _covering(checkpoints, chain_id, min(ns), published)
        last = _covering(checkpoints, chain_id, max(ns), published)
        if first is None or last is None:
            raise EvidenceError(f"events of chain {chain_id} are not covered by a checkpoint")
        start_cp, start_seq, start_hash, _ = first
        end_cp = last[3]
        end_seq = next(
            s
            for c, s, _ in verify_checkpoint(end_cp.document, published).facts.heads
            if c == chain_id
        )
        chain = await backend.chain_events(chain_id, end_seq)
        lines = [r for r in chain if (r.chain_seq or 0) > start_seq]
        segments[chain_id] = _Segment(chain_id, start_hash, start_cp, end_cp, lines)

    root = f"evidence-{package_id}"
    files: dict[str, bytes] = {}
    if data and purged is None:
        files["package.xml"] = data
    else:
        files["PURGED.txt"] = (
            f"The package's bytes were purged under the retention policy at "
            f"{purged.isoformat() if purged else 'an unknown time'}; the receipt still "
            f"states their SHA-256 ({record.sha256}).\n"
        ).encode()
    if receipt is not None:
        files["receipt.xml"] = receipt
    files["trace.json"] = json.dumps(
        [
            {
                "seq": e.seq,
                "kind": e.kind,
                "at": e.at.astimezone(UTC).isoformat(),
                "recipient": e.recipient,
                "attempt": e.attempt,
                "detail": e.detail,
                "chain": e.chain_id,
                "n": e.chain_seq,
                "hash": e.hash,
            }
            for e in events
        ],
        ensure_ascii=False,
        indent=2,
    ).encode("utf-8")
    for seg in segments.values():
        files[f"chain/{seg.chain_id}.jsonl"] = b"".join(canonical(r) + b"\n" for r in seg.lines)
        files[f"chain/{seg.chain_id}.start"] = (seg.start_hash + "\n").encode()
        files[f"chain/{seg.chain_id}.end"] = (f"checkpoints/{seg.end_checkpoint.id}.xml\n").encode()
        for cp in (seg.start_checkpoint, seg.end_checkpoint):
            if cp is not None:
                files[f"checkpoints/{cp.id}.xml"] = cp.document
                if cp.tst is not None:
                    files[f"checkpoints/{cp.id}.tst"] = cp.tst
    for ack in await backend.signed_acks(package_id):
        files[f"acks/{ack.recipient}.xml"] = ack.data
    for i, cert in enumerate(signer.certificates, 1):
        files[f"certs/hub-{i}.pem"] = cert.public_bytes(serialization.Encoding.PEM)
    for i, anchor in enumerate(anchors, 1):
        files[f"certs/anchor-{i}.pem"] = anchor.read_bytes()
    for i, tsa_cert in enumerate(tsa_certs, 1):
        files[f"certs/tsa-{i}.pem"] = tsa_cert.read_bytes()
    files["README.txt"] = README.replace("{package_id}", package_id).encode("utf-8")
    files["verify.sh"] = VERIFY_SH.encode("utf-8")

    out.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).timestamp()
    with tarfile.open(out, "w:gz") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(files[name])
            info.mtime = int(now)
            info.mode = 0o755 if name == "verify.sh" else 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return out


README = """Evidence for package {package_id}
=====================================

Issued by an edXML exchange hub. Everything here can be checked with xmlsec1, openssl and a
POSIX shell; `sh verify.sh` runs exactly the steps below and prints OK or the first failure.

1. Certificates. certs/hub-*.pem are the hub's receipt certificates (every one it has used,
   for key rotation); certs/anchor-*.pem are the trust anchors (the CA of the hub's
   certificate and of the agencies). Check a hub certificate against its CA:
       openssl verify -CAfile certs/anchor-1.pem certs/hub-1.pem

2. The receipt is the hub's signed statement that it accepted the package:
       xmlsec1 --verify --trusted-pem certs/anchor-1.pem receipt.xml
   It states <Sha256> of the exact bytes; compare with
       openssl dgst -sha256 -r package.xml
   (after a retention purge package.xml is absent and PURGED.txt says when.)

3. The package itself carries its sender's signature (enveloped XMLDSig, URI=""):
       xmlsec1 --verify --trusted-pem certs/anchor-N.pem package.xml

4. The trace (trace.json) is a readable copy of the package's events. Each event is one line
   of chain/<chain>.jsonl: canonical JSON (sorted keys, no spaces, ASCII), and its hash is
       printf '%s' "$line" | openssl dgst -sha256 -r
   Each line's "prev" is the hash of the line before it; the first line's "prev" equals
   chain/<chain>.start (64 zeros when the chain starts there, else the head signed by the
   earlier checkpoint in checkpoints/). The hash of the last line must equal the hash that
   the checkpoint named in chain/<chain>.end signs for that chain:
       <Chain id="<chain>" seq="<n of the last line>" hash="<hash>"/>

5. Checkpoints are signed by the hub like receipts:
       xmlsec1 --verify --trusted-pem certs/anchor-1.pem checkpoints/<id>.xml
   A checkpoint with a .tst file next to it also has an RFC 3161 time-stamp token from an
   independent time-stamp authority over its exact bytes (certs/tsa-*.pem: the TSA's trust
   anchor and chain). It proves the checkpoint, and every event it seals, existed then:
       cat certs/tsa-*.pem > tsa-bundle.pem
       openssl ts -verify -token_in -in checkpoints/<id>.tst -data checkpoints/<id>.xml \\
           -CAfile tsa-bundle.pem
       openssl ts -reply -token_in -in checkpoints/<id>.tst -text    # shows the time

6. acks/<OrganId>.xml, when present, are acknowledgements signed by the recipient
   (non-repudiation of receipt); verify them like the package (step 3).

What this proves: the hub accepted these exact bytes at the stated time (receipt), the events
listed happened in this order and were not edited, removed, inserted or reordered after the
signed checkpoint sealed them (chain + checkpoint), and a recipient acknowledged receipt
(signed acks).
"""

VERIFY_SH = r"""#!/bin/sh
# Verify this evidence archive with xmlsec1 and openssl only. Run from its directory.
set -u
fail() { echo "FAILED: $*"; exit 1; }
anchors=""
for a in certs/anchor-*.pem; do [ -f "$a" ] && anchors="$anchors --trusted-pem $a"; done
[ -n "$anchors" ] || fail "no trust anchor in certs/"
hubok=0
for h in certs/hub-*.pem; do
  for a in certs/anchor-*.pem; do
    openssl verify -CAfile "$a" "$h" >/dev/null 2>&1 && hubok=1
  done
done
[ "$hubok" = 1 ] || fail "no hub certificate chains to a trust anchor"
# shellcheck disable=SC2086
xmlsec1 --verify $anchors receipt.xml >/dev/null 2>&1 || fail "receipt signature"
echo "receipt signature: ok"
stated=$(sed -n 's/.*<Sha256>\([0-9a-f]*\)<\/Sha256>.*/\1/p' receipt.xml)
if [ -f package.xml ]; then
  actual=$(openssl dgst -sha256 -r package.xml | cut -d' ' -f1)
  [ "$stated" = "$actual" ] || fail "package.xml does not match the receipt's SHA-256"
  echo "package bytes match the receipt: ok"
  # shellcheck disable=SC2086
  xmlsec1 --verify $anchors package.xml >/dev/null 2>&1 || fail "package signature"
  echo "package signature: ok"
else
  echo "package bytes purged (see PURGED.txt); receipt states sha256 $stated"
fi
for cp in checkpoints/*.xml; do
  # shellcheck disable=SC2086
  xmlsec1 --verify $anchors "$cp" >/dev/null 2>&1 || fail "checkpoint signature $cp"
  echo "checkpoint signature $cp: ok"
done
for tst in checkpoints/*.tst; do
  [ -f "$tst" ] || continue
  ls certs/tsa-*.pem >/dev/null 2>&1 || fail "time-stamp token $tst but no certs/tsa-*.pem"
  bundle=$(mktemp)
  cat certs/tsa-*.pem > "$bundle"
  openssl ts -verify -token_in -in "$tst" -data "${tst%.tst}.xml" -CAfile "$bundle" \
    >/dev/null 2>&1 || { rm -f "$bundle"; fail "time-stamp token $tst"; }
  rm -f "$bundle"
  echo "time-stamp token $tst: ok"
done
for seg in chain/*.jsonl; do
  chain=$(basename "$seg" .jsonl)
  prev=$(cat "chain/$chain.start")
  last=""
  n=""
  while IFS= read -r line; do
    linkprev=$(printf '%s' "$line" | sed 's/.*"prev":"\([0-9a-f]*\)".*/\1/')
    [ "$linkprev" = "$prev" ] || fail "chain $chain: a line does not link to the one before"
    prev=$(printf '%s' "$line" | openssl dgst -sha256 -r | cut -d' ' -f1)
    n=$(printf '%s' "$line" | sed 's/.*"n":\([0-9]*\),.*/\1/')
    last=$prev
  done < "$seg"
  end=$(cat "chain/$chain.end")
  grep -q "<Chain id=\"$chain\" seq=\"$n\" hash=\"$last\"/>" "$end" \
    || fail "chain $chain: head #$n is not the one signed in $end"
  echo "chain $chain up to #$n sealed by $end: ok"
done
for ack in acks/*.xml; do
  [ -f "$ack" ] || continue
  # shellcheck disable=SC2086
  xmlsec1 --verify $anchors "$ack" >/dev/null 2>&1 || fail "signed acknowledgement $ack"
  echo "signed acknowledgement $ack: ok"
done
echo OK
"""
