"""The SDK's wire rules, as pure functions (see ../shared/vxp-sdk/PROTOCOL.md §3–§5).

Authentication: the SDK puts every key of a call's JSON argument into a header map, sends each
as ``XroadVnpt-<key>``, and MACs the compact JSON object of those headers, sent verbatim as
``XroadVnpt-sign-header``, with HMAC-SHA256 keyed by the secret's UTF-8 text
(``XroadVnpt-hash-header``, lowercase hex). The field order is Java HashMap order, so the MAC
is checked over the text as received, and every identity and argument is taken from that
MAC'd JSON only; any other ``XroadVnpt-*`` header must agree with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "xroadvnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"
#: headers the SDK sends outside the MAC'd object (the MAC itself, its key list, a constant)
UNSIGNED_HEADERS = frozenset(
    h.lower() for h in (SIGN_HEADER, SIGN_HEADER_KEY, HASH_HEADER, "XroadVnpt-version")
)

#: the SDK's own idea of success (it fabricates this triple for a non-JSON list answer)
OK = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success"}


class ProtocolError(Exception):
    """A request the facade refuses before it reaches the hub; ``code`` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The MAC'd header object of one request: ``args`` without the ``XroadVnpt-`` prefix."""

    sign_header: str  # the exact text that was MAC'd
    mac: str
    args: Mapping[str, str]

    @property
    def system_id(self) -> str:
        """The ``systemid`` the SDK put in the MAC'd object."""
        return self.args.get("systemid", "")


def sdk_file_hash(data: bytes) -> str:
    """SHA-256 hex as the SDK writes it: ``Integer.toHexString(b & 0xff)`` per byte, i.e.
    **without** zero padding (52..64 characters)."""
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


def sign(secret: str, sign_header: str) -> str:
    """``XroadVnpt-hash-header`` for a sign-header text (what the SDK computes)."""
    return hmac.new(secret.encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256).hexdigest()


def raw_header_text(value: str) -> str:
    """aiohttp decodes header bytes as UTF-8 with ``surrogateescape``; undo anything it could
    not decode so the MAC is computed over the bytes as received (invalid UTF-8 never MACs)."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_signed(headers: Iterable[tuple[str, str]]) -> SignedRequest:
    """Read and cross-check the ``XroadVnpt-*`` headers (the MAC itself is checked by
    :func:`verify` once the system's secret is known).

    Refuses (``vxp.auth``) a request without the sign-header or the MAC, a sign-header that is
    not a JSON object of strings, and (``vxp.header_mismatch``) any other ``XroadVnpt-*``
    header that is absent from the MAC'd object or differs from it.
    """
    items = [(k, raw_header_text(v)) for k, v in headers]
    signs = [v for k, v in items if k.lower() == SIGN_HEADER.lower()]
    macs = [v for k, v in items if k.lower() == HASH_HEADER.lower()]
    if len(signs) != 1 or len(macs) != 1:
        raise ProtocolError(
            "vxp.auth",
            "authentication required: exactly one XroadVnpt-sign-header and one "
            "XroadVnpt-hash-header (the SDK's HMAC headers)",
        )
    try:
        obj: Any = json.loads(signs[0])
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise ProtocolError("vxp.auth", "XroadVnpt-sign-header is not a JSON object of strings")
    signed = {k.lower(): v for k, v in obj.items()}
    args: dict[str, str] = {}
    for key, value in obj.items():
        if key.lower().startswith(PREFIX):
            args[key[len(PREFIX) :]] = value
    for name, value in items:
        lower = name.lower()
        if not lower.startswith(PREFIX) or lower in UNSIGNED_HEADERS:
            continue
        if lower not in signed:
            raise ProtocolError(
                "vxp.header_mismatch", f"header {name} is not covered by the MAC'd sign-header"
            )
        if signed[lower] != value:
            raise ProtocolError(
                "vxp.header_mismatch",
                f"header {name} differs from its value in the MAC'd sign-header",
            )
    return SignedRequest(sign_header=signs[0], mac=macs[0].strip().lower(), args=args)


def verify(request: SignedRequest, secret: str) -> bool:
    """Whether the MAC is the SDK's HMAC of the sign-header text under ``secret``."""
    return hmac.compare_digest(sign(secret, request.sign_header), request.mac)


def strip_sdk_crlf(body: bytes) -> bytes:
    """The file the SDK sent: its ``MultipartUtility`` appends exactly one CRLF."""
    return body[:-2] if body.endswith(b"\r\n") else body


def answer(**fields: Any) -> dict[str, Any]:
    """A success answer: the SDK's triple plus the call's fields."""
    return {**OK, **fields}


def failure(code: str, detail: str, **fields: Any) -> dict[str, Any]:
    """A failure answer: ``status`` FAIL, the hub's stable code as ``ErrorCode`` (never
    ``"0"``), the reason as ``ErrorDesc``; ``fields`` the SDK requires for the call (``DocId``
    for sendEdoc), so the SDK fills its result instead of returning null."""
    return {"status": "FAIL", "ErrorCode": code, "ErrorDesc": detail, **fields}
