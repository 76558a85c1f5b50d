"""Micro-benchmark: PAdES validation time per file, at signing time and a week later (long-term
validation), for B-B, B-LT and B-LTA files signed with the test PKI of tests/signing/ltv_pki.py.

Run: .venv/bin/python benchmarks/pdf_ltv.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signing import StaticRevocationChecker, TrustStore, validate_pdf
from tests.signing.ltv_pki import build_pki, sign_pdf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    t0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a fixed signing moment
    pki = build_pki(t0)
    checker = StaticRevocationChecker([pki.crl], mode="hard-fail")
    trust = TrustStore([pki.root.cert], revocation=checker)
    for level in ("B-B", "B-LT", "B-LTA"):
        data = sign_pdf(pki, level)
        for label, at in (
            ("at signing", t0 + timedelta(minutes=1)),
            ("week later", pki.week_later),
        ):
            validate_pdf(data, trust, at=at)  # warm-up
            start = time.perf_counter()
            for _ in range(args.rounds):
                report = validate_pdf(data, trust, at=at)
            ms = (time.perf_counter() - start) / args.rounds * 1000
            print(f"{level:6} {label:11} {report.verdict:13} {ms:6.1f} ms/file")


if __name__ == "__main__":
    main()
