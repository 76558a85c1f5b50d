"""Micro-benchmark: TrustStore.validate with revocation from a CRL file vs. from the online
checker's cache (no network: the cached CRL answers). Shows what the accept path pays once
the cache is warm.

Run: .venv/bin/python benchmarks/revocation_online.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from signing import StaticRevocationChecker, TrustStore
from signing.online import FetchedItem, OnlineRevocationChecker
from tests.signing.ltv_pki import build_pki


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    t0 = datetime(2026, 1, 5, 10, tzinfo=UTC)  # a fixed moment
    url = "http://127.0.0.1:9/crl"  # never fetched: the cache answers
    pki = build_pki(t0, crl_url=url)
    crl = pki.fresh_crl(t0)
    item = FetchedItem.of_crl(url, crl, t0)
    at = t0 + timedelta(hours=1)
    checkers = (
        ("CRL file", StaticRevocationChecker([crl], mode="hard-fail")),
        ("online, cached", OnlineRevocationChecker(cached=[item], clock=lambda: at)),
    )
    for name, checker in checkers:
        trust = TrustStore([pki.root.cert], revocation=checker)
        trust.validate(pki.signer.cert, at=at)  # warm-up: path cached, CRL verified
        start = time.perf_counter()
        for _ in range(args.rounds):
            trust.validate(pki.signer.cert, at=at)
        micros = (time.perf_counter() - start) / args.rounds * 1e6
        print(f"{name:15} {micros:6.0f} µs/validate")


if __name__ == "__main__":
    main()
