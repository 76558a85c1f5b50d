"""The HMAC signature of the hub's outgoing POSTs: push deliveries and alarm webhooks.

A leaf module: the dispatcher (``hub.delivery``), the alarm notifier (``hub.lifecycle``) and
every receiver (the demo's, the tests', an agency's) use the one definition.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: The header that carries :func:`push_signature`.
SIGNATURE_HEADER = "Hub-Signature"


def push_signature(secret: bytes, package_id: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<package id>.<sha256(body)>")>``.

    The receiver recomputes it with the shared secret and refuses stale timestamps, so a
    captured push cannot be replayed later or re-targeted to another package id.
    """
    digest = hashlib.sha256(body).hexdigest()
    mac = hmac.new(secret, f"{timestamp}.{package_id}.{digest}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_push_signature(
    secret: bytes, package_id: str, header: str, body: bytes, *, max_age: float = 300.0
) -> bool:
    """Receiver side of :func:`push_signature` (used by the demo's and tests' receivers)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > max_age:
        return False
    expected = push_signature(secret, package_id, timestamp, body)
    return hmac.compare_digest(expected, header)
