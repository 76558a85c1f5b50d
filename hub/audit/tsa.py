"""RFC 3161 time-stamping of signed checkpoints (when ``[audit] tsa_url`` is configured).

A checkpoint is signed by the hub's own key, so its ``At`` is only the hub's word. A token
from an independent time-stamp authority over the checkpoint's exact bytes proves that the
checkpoint — and every event it seals — existed at the TSA's time, and it is a copy held
elsewhere: deleting the newest checkpoints together with their events no longer goes
unnoticed by whoever kept the token (an evidence archive).

The client POSTs a ``TimeStampReq`` (SHA-256 imprint, random nonce, certReq) as
``application/timestamp-query`` and checks the answer before storing it: status granted,
same imprint, same nonce. Verification (:func:`verify_token`) checks the token's CMS
signature, that it is a TSA certificate (extended key usage timeStamping) chaining to the
configured TSA anchors (``[audit] tsa_certs``), and the imprint over the checkpoint bytes —
the same checks as ``openssl ts -verify -data checkpoint.xml -in token.tst -token_in
-CAfile tsa-root.pem``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import secrets
from collections.abc import Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from hub.errors import HubError

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
#: a TSA answers in milliseconds; a slow one must not hold up the checkpoint loop
DEFAULT_TIMEOUT = 10.0


class TimestampError(HubError):
    """No time-stamp token could be obtained from the TSA, or a token does not verify."""

    code = "audit.timestamp"
    status = 502
    title = "Time-stamp failed"


def build_request(data: bytes) -> tuple[bytes, int]:
    """A DER ``TimeStampReq`` over SHA-256(``data``) and its nonce."""
    nonce = secrets.randbits(63)
    req = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                    "hashed_message": hashlib.sha256(data).digest(),
                }
            ),
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return req.dump(), nonce


def token_from_response(reply: bytes, data: bytes, nonce: int) -> bytes:
    """The ``TimeStampToken`` (DER ``ContentInfo``) from a TSA reply, after checking that it
    was granted, and that it stamps ``data`` and answers our nonce."""
    try:
        resp = tsp.TimeStampResp.load(reply)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = resp["status"]["status_string"].native
            raise TimestampError(f"the TSA refused: {status} {text or ''}".strip())
        token = resp["time_stamp_token"]
        info = _tst_info(token)
    except (ValueError, KeyError, TypeError) as exc:
        raise TimestampError(f"not a time-stamp reply: {exc}") from exc
    _check_imprint(info, data)
    if info["nonce"].native != nonce:
        raise TimestampError("the TSA's token answers another request (nonce)")
    dumped: bytes = token.dump()
    return dumped


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    signed = token["content"]
    content = signed["encap_content_info"]
    if content["content_type"].native != "tst_info":
        raise TimestampError("the token does not hold a TSTInfo")
    parsed = content["content"].parsed
    if not isinstance(parsed, tsp.TSTInfo):
        raise TimestampError("the token does not hold a TSTInfo")
    return parsed


def _check_imprint(info: tsp.TSTInfo, data: bytes) -> None:
    imprint = info["message_imprint"]
    name = imprint["hash_algorithm"]["algorithm"].native
    if name not in ("sha256", "sha384", "sha512"):
        raise TimestampError(f"token imprint uses {name}")
    if imprint["hashed_message"].native != hashlib.new(name, data).digest():
        raise TimestampError("the token stamps other bytes than the checkpoint")


def token_time(token: bytes) -> datetime:
    """``genTime`` of a token (no verification)."""
    gen: datetime = _tst_info(cms.ContentInfo.load(token))["gen_time"].native
    return gen


class TsaClient:
    """Requests tokens from one TSA over HTTP (no authentication: RFC 3161 over HTTP)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    async def timestamp(self, data: bytes) -> bytes:
        """A verified-for-content token over ``data`` (signature checked by
        :func:`verify_token` at verification time, against the configured TSA anchors)."""
        body, nonce = build_request(data)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as s,
                s.post(self.url, data=body, headers={"Content-Type": QUERY_TYPE}) as resp,
            ):
                reply = await resp.read()
                if resp.status != 200:
                    raise TimestampError(f"the TSA answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TimestampError(f"the TSA at {self.url} is unreachable: {exc}") from exc
        return token_from_response(reply, data, nonce)


def load_tsa_roots(paths: Sequence[Path]) -> list[asn1_x509.Certificate]:
    """PEM certificates (several per file) of the TSA's trust anchors."""
    roots = []
    for path in paths:
        for cert in x509.load_pem_x509_certificates(path.read_bytes()):
            roots.append(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))
    return roots


def verify_token(token: bytes, data: bytes, roots: Sequence[asn1_x509.Certificate]) -> datetime:
    """Check ``token`` over ``data``: CMS signature, TSA certificate (timeStamping EKU) with a
    path to one of ``roots`` valid at the stamped time, imprint. Returns ``genTime``."""
    try:
        content = cms.ContentInfo.load(token)
        info = _tst_info(content)
    except (ValueError, KeyError, TypeError) as exc:
        raise TimestampError(f"not a time-stamp token: {exc}") from exc
    _check_imprint(info, data)
    gen_time: datetime = info["gen_time"].native
    if not roots:
        raise TimestampError("no TSA trust anchor configured ([audit] tsa_certs)")
    context = ValidationContext(
        trust_roots=list(roots), moment=gen_time, allow_fetching=False, revocation_mode="soft-fail"
    )

    async def run() -> dict[str, object]:
        result: dict[str, object] = await validate_tst_signed_data(
            content["content"], context, lambda name: hashlib.new(name, data).digest()
        )
        return result

    try:
        status = _run(run())
    except Exception as exc:  # pyhanko's errors: the token is not acceptable
        raise TimestampError(f"the token does not verify: {exc}") from exc
    if not status.get("intact") or not status.get("valid"):
        raise TimestampError("the token's signature does not verify")
    # pyhanko reports trust as a validated path and no trust problem indication.
    if status.get("validation_path") is None or status.get("trust_problem_indic") is not None:
        raise TimestampError("the token is not signed by a trusted TSA certificate")
    return gen_time


def _run(coro: Coroutine[Any, Any, dict[str, object]]) -> dict[str, object]:
    # verify_token is called from synchronous code that may itself run inside an event loop
    # (hub audit verify runs in asyncio.run): use a helper thread then, as signing.trust does.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
