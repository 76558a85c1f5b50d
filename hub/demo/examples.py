"""Unsigned example packages written into ``hub demo``'s working directory (``W/examples``).

The README's curl walkthrough signs and submits them as the Government Office (G22) to Nghệ An
(H41): first a new document (BussinessDocType 0), then an update of it (BussinessDocType 2,
``Bussiness/DocumentId`` naming the first), so a fresh clone has everything the walkthrough
needs without any outside test data.
"""

from __future__ import annotations

import random
from pathlib import Path

from hub.demo.factory import Signer, document, vn_now
from hub.demo.workdir import Workdir
from hub.edxml import Organ
from signing.pki import load_certificates, load_private_key

SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
#: the examples' document number: far above the demo stream's, so they never collide
NUMBER = 9001


def write_examples(wd: Workdir) -> tuple[Path, Path]:
    """Write ``examples/document.edxml`` and ``examples/update.edxml`` (unsigned)."""
    agency = wd.agencies[SENDER]
    sender = Signer(
        SENDER,
        "Văn phòng Chính phủ",
        load_private_key(agency.key_path),
        load_certificates(agency.cert_path)[0],
    )
    to = [Organ(organ_id=RECIPIENT, organ_name="UBND Tỉnh Nghệ An")]
    when = vn_now()
    original_id, original = document(
        sender, to, number=NUMBER, rng=random.Random(NUMBER), when=when, signed=False
    )
    _, update = document(
        sender,
        to,
        number=NUMBER + 1,
        rng=random.Random(NUMBER),
        when=when,
        business_doc_type=2,
        original_document_id=original_id,
        signed=False,
    )
    out = wd.root / "examples"
    out.mkdir(parents=True, exist_ok=True)
    first, second = out / "document.edxml", out / "update.edxml"
    first.write_bytes(original)
    second.write_bytes(update)
    return first, second
