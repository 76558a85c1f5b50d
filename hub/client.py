"""A small agency-side client of the hub's API (used by ``hub send``, the connector, the demo,
tests and benchmarks). Any HTTP client works; this one only saves repeating headers and paging.

Whatever answers at ``base_url`` is not trusted further than the package it sends: a proxy, an
LGSP gateway or a spoofed endpoint (TLS misconfigured) may answer anything. So every body is
read with a cap (:data:`RECEIPT_MAX_BYTES`, :data:`JSON_MAX_BYTES`, the package limit given to
:class:`HubClient`), counted as it arrives (after any ``Content-Encoding`` is undone, so a
compressed bomb stops at the cap too), and the receipt is parsed with the hub's safe parser
(:func:`hub.xmlsafe.parse_xml`: no DTD, no entities, size first). An answer refused on these
grounds is :class:`AnswerRefused` (``client.answer_refused``) or :class:`AnswerTooLarge`
(``client.answer_too_large``), never a parser's traceback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from hub.errors import HubError
from hub.receipts import RECEIPT_NS
from hub.xmlsafe import DEFAULT_MAX_SIZE, parse_xml

#: A receipt is a signed XML of a few KiB (the package's facts, its recipients, the hub's
#: certificate chain); 1 MiB leaves room for thousands of recipients and is still cheap.
RECEIPT_MAX_BYTES = 1024 * 1024
#: A JSON answer: a page of at most 1,000 listing items, a batch ack of 1,000 ids, a trace.
JSON_MAX_BYTES = 16 * 1024 * 1024
#: A problem+json body (or a proxy's error page): beyond this it is not read, only its status
#: is reported.
PROBLEM_MAX_BYTES = 64 * 1024
#: The hub's byte budget of one ``GET /v1/inbox/packages`` answer
#: (``hub.api.packages.BATCH_MAX_BYTES``): a batch holds at most this much, or one package
#: alone, so an answer over this plus one package (and the parts' framing) is not the hub's.
HUB_BATCH_BYTES = 4 * 1024 * 1024
_BATCH_FRAMING = 64 * 1024
_CHUNK = 64 * 1024


class AnswerRefused(HubError):
    """The client refuses the hub's answer: a receipt the safe XML parser refuses (a DTD,
    entities, not well-formed), or a JSON answer that does not parse. Raised by the agency-side
    client (``hub send``, the connector), never answered by the hub: an endpoint between the
    client and the hub may answer anything."""

    code = "client.answer_refused"
    status = 502
    title = "The hub's answer is refused by the client"


class AnswerTooLarge(AnswerRefused):
    """The hub's answer is larger than the client reads for that call (a receipt over
    1 MiB, a JSON answer over 16 MiB, a package over the client's package limit, by default
    20 MiB as the hub's ``[limits] max_package_bytes``)."""

    code = "client.answer_too_large"
    title = "The hub's answer is larger than the client takes"


async def _read_capped(content: aiohttp.StreamReader, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``content``, or :class:`AnswerTooLarge` as soon as more
    arrive (never more than one chunk past the limit is held)."""
    data = bytearray()
    while chunk := await content.read(_CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            raise AnswerTooLarge(f"{what}: over {limit} bytes, not read further", limit=limit)
    return bytes(data)


async def _read_body(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The response's body, refused from its ``Content-Length`` before anything is read when
    that already says it is over ``limit``, else read with the cap."""
    if resp.content_length is not None and resp.content_length > limit:
        raise AnswerTooLarge(
            f"{what}: {resp.content_length} bytes announced, the limit is {limit} bytes",
            limit=limit,
        )
    return await _read_capped(resp.content, limit, what)


async def _read_part(
    part: aiohttp.BodyPartReader, limit: int, left: int, what: str
) -> tuple[bytes, int]:
    """One multipart part's bytes, at most ``limit`` of them and at most ``left`` of the
    whole answer's budget; the bytes and the budget left after them."""
    data = bytearray()
    while not part.at_eof():
        data.extend(await part.read_chunk(_CHUNK))
        if len(data) > limit:
            raise AnswerTooLarge(f"{what}: over {limit} bytes, not read further", limit=limit)
        if len(data) > left:
            raise AnswerTooLarge(f"{what}: the batch answer is over its byte budget")
    return bytes(data), left - len(data)


class HubProblem(Exception):
    """A problem+json answer from the hub."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        self.code = str(body.get("code", f"http.{status}"))
        self.detail = str(body.get("detail", ""))
        super().__init__(f"{self.code} ({status}): {self.detail}")


@dataclass(frozen=True, slots=True)
class InboxPackage:
    """One package of ``GET /v1/inbox/packages``: its exact bytes and the part's headers."""

    id: str
    sender: str
    kind: str
    #: SHA-256 of ``data`` as the hub stored it (the part's ETag), lowercase hex
    sha256: str
    data: bytes
    #: the sub-unit codes the caller receives the package for; empty: its own name only
    stands_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboxBatch:
    """One answer of ``GET /v1/inbox/packages``: its packages, oldest first, and the position
    of the last one (``Hub-Next-Cursor``), to pass back as ``cursor`` for the packages after
    it; ``next`` is ``None`` when nothing waited (after the cursor asked)."""

    items: tuple[InboxPackage, ...]
    next: str | None


@dataclass(frozen=True, slots=True)
class Submitted:
    """The answer to a submission."""

    package_id: str
    created: bool
    receipt: bytes
    recipients: tuple[str, ...]


class HubClient:
    """``async with HubClient(url, token) as client:``

    ``max_package_bytes`` is the largest package the client downloads (``fetch``, each part of
    ``fetch_batch``): the hub's default ``[limits] max_package_bytes``; give the hub's value
    when it was raised.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        max_package_bytes: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session = session
        self._own_session = session is None
        self.max_package_bytes = max_package_bytes

    async def __aenter__(self) -> HubClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use 'async with HubClient(...)'"
        return self._session

    async def _raise(self, resp: aiohttp.ClientResponse) -> None:
        if resp.status < 400:
            return
        try:
            raw = await _read_body(resp, PROBLEM_MAX_BYTES, "problem body")
        except AnswerTooLarge:
            # The status is what callers act on (retry a 5xx, record a 4xx): keep it.
            raise HubProblem(
                resp.status,
                {"code": f"http.{resp.status}", "detail": "(a body over 64 KiB, not read)"},
            ) from None
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            body = {"code": f"http.{resp.status}", "detail": raw.decode("utf-8", "replace")}
        raise HubProblem(resp.status, body)

    async def submit(self, data: bytes) -> Submitted:
        """POST /v1/packages."""
        async with self.session.post(
            f"{self.base_url}/v1/packages",
            data=data,
            headers={**self._headers, "Content-Type": "application/xml"},
        ) as resp:
            await self._raise(resp)
            receipt = await _read_body(resp, RECEIPT_MAX_BYTES, "receipt")
            try:
                root = parse_xml(receipt, max_size=RECEIPT_MAX_BYTES)
            except HubError as exc:
                raise AnswerRefused(f"receipt: {exc.code}: {exc.detail}", cause=exc.code) from exc
            recipients = root.iterfind(
                f"{{{RECEIPT_NS}}}Header/{{{RECEIPT_NS}}}Recipients/{{{RECEIPT_NS}}}OrganId"
            )
            return Submitted(
                package_id=resp.headers["Hub-Package-Id"],
                created=resp.status == 202,
                receipt=receipt,
                recipients=tuple(el.text or "" for el in recipients),
            )

    async def validate(self, data: bytes) -> dict[str, Any]:
        """POST /v1/validate."""
        return await self._json(
            "POST", "/v1/validate", data=aiohttp.BytesPayload(data, content_type="application/xml")
        )

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with self.session.request(
            method, f"{self.base_url}{path}", headers=self._headers, **kwargs
        ) as resp:
            await self._raise(resp)
            raw = await _read_body(resp, JSON_MAX_BYTES, f"{method} {path}")
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
                raise AnswerRefused(f"{method} {path}: the answer is not JSON") from None
            if not isinstance(body, dict):
                raise AnswerRefused(f"{method} {path}: the answer is not a JSON object")
            return body

    async def inbox_page(
        self, cursor: str | None = None, limit: int = 100, *, q: str | None = None
    ) -> dict[str, Any]:
        """GET /v1/inbox (one page); ``q``: Subject words (with or without diacritics)."""
        params: dict[str, str] = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if q:
            params["q"] = q
        return await self._json("GET", "/v1/inbox", params=params)

    async def inbox_items(self, limit: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every inbox item, page by page."""
        cursor: str | None = None
        while True:
            page = await self.inbox_page(cursor, limit)
            for item in page["items"]:
                yield item
            cursor = page["next"]
            if not cursor:
                return

    async def outbox_page(
        self, cursor: str | None = None, limit: int = 100, *, q: str | None = None
    ) -> dict[str, Any]:
        """GET /v1/outbox (one page); ``q``: Subject words (with or without diacritics)."""
        params: dict[str, str] = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if q:
            params["q"] = q
        return await self._json("GET", "/v1/outbox", params=params)

    async def fetch(self, package_id: str) -> bytes:
        """GET /v1/packages/{id}: the exact bytes."""
        async with self.session.get(
            f"{self.base_url}/v1/packages/{package_id}", headers=self._headers
        ) as resp:
            await self._raise(resp)
            return await _read_body(resp, self.max_package_bytes, f"package {package_id}")

    async def fetch_batch(self, limit: int = 100, cursor: str | None = None) -> InboxBatch:
        """GET /v1/inbox/packages: the oldest waiting packages with their bytes (at most
        ``limit``, and as many as the hub's byte budget lets through), only those after
        ``cursor`` when given (the ``next`` of an earlier batch); no items when none waits.
        They come again, from the oldest, until acknowledged (:meth:`ack_batch`)."""
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        async with self.session.get(
            f"{self.base_url}/v1/inbox/packages", params=params, headers=self._headers
        ) as resp:
            await self._raise(resp)
            if resp.status == 204:
                return InboxBatch((), None)
            reader = aiohttp.MultipartReader.from_response(resp)
            items: list[InboxPackage] = []
            left = self.max_package_bytes + HUB_BATCH_BYTES + _BATCH_FRAMING
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or len(items) >= limit:
                    raise AnswerRefused(
                        f"inbox batch: more than {limit} parts, or a nested multipart"
                    )
                headers = part.headers
                data, left = await _read_part(
                    part, self.max_package_bytes, left, f"inbox batch part {len(items) + 1}"
                )
                stands_for = headers.get("Hub-Stands-For", "")
                items.append(
                    InboxPackage(
                        id=headers["Hub-Package-Id"],
                        sender=headers["Hub-Sender"],
                        kind=headers["Hub-Kind"],
                        sha256=headers["ETag"].strip('"'),
                        data=data,
                        stands_for=tuple(c.strip() for c in stands_for.split(",") if c.strip()),
                    )
                )
            return InboxBatch(tuple(items), resp.headers["Hub-Next-Cursor"])

    async def inbox_batches(self, limit: int = 100) -> AsyncIterator[InboxBatch]:
        """Every waiting package, batch after batch from the oldest (each batch starting
        after the previous one's last package), until none waits; a batch the caller does
        not acknowledge is not sent again within the walk."""
        cursor: str | None = None
        while True:
            batch = await self.fetch_batch(limit, cursor)
            if not batch.items:
                return
            yield batch
            cursor = batch.next

    async def ack_batch(self, package_ids: Sequence[str]) -> dict[str, Any]:
        """POST /v1/inbox/acks: acknowledge ``package_ids`` (unsigned) in one request; the
        answer has one item per distinct id (``already_acked``, or ``code``
        ``package.not_found``)."""
        return await self._json("POST", "/v1/inbox/acks", json={"ids": list(package_ids)})

    async def receipt(self, package_id: str) -> bytes:
        """GET /v1/packages/{id}/receipt."""
        async with self.session.get(
            f"{self.base_url}/v1/packages/{package_id}/receipt", headers=self._headers
        ) as resp:
            await self._raise(resp)
            return await _read_body(resp, RECEIPT_MAX_BYTES, f"receipt of {package_id}")

    async def ack(self, package_id: str, signed: bytes | None = None) -> dict[str, Any]:
        """POST /v1/packages/{id}/ack, with ``signed`` (an acknowledgement signed by the
        recipient, :func:`hub.audit.acks.sign_ack`) as the body when given."""
        if signed is None:
            return await self._json("POST", f"/v1/packages/{package_id}/ack")
        payload = aiohttp.BytesPayload(signed, content_type="application/xml")
        return await self._json("POST", f"/v1/packages/{package_id}/ack", data=payload)

    async def trace(self, package_id: str) -> dict[str, Any]:
        """GET /v1/packages/{id}/trace."""
        return await self._json("GET", f"/v1/packages/{package_id}/trace")
