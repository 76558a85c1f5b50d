"""A small agency-side client of the hub's API (used by ``hub send``, the demo, tests and
benchmarks). Any HTTP client works; this one only saves repeating headers and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from lxml import etree

from hub.receipts import RECEIPT_NS


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
    """``async with HubClient(url, token) as client:``"""

    def __init__(
        self, base_url: str, token: str, *, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session = session
        self._own_session = session is None

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
            body = await resp.json(content_type=None)
        except ValueError:
            body = {"code": f"http.{resp.status}", "detail": await resp.text()}
        raise HubProblem(resp.status, body)

    async def submit(self, data: bytes) -> Submitted:
        """POST /v1/packages."""
        async with self.session.post(
            f"{self.base_url}/v1/packages",
            data=data,
            headers={**self._headers, "Content-Type": "application/xml"},
        ) as resp:
            await self._raise(resp)
            receipt = await resp.read()
            root = etree.fromstring(receipt)
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
            body: dict[str, Any] = await resp.json()
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
            return await resp.read()

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
            while (part := await reader.next()) is not None:
                assert isinstance(part, aiohttp.BodyPartReader)  # no nested multiparts
                headers = part.headers
                stands_for = headers.get("Hub-Stands-For", "")
                items.append(
                    InboxPackage(
                        id=headers["Hub-Package-Id"],
                        sender=headers["Hub-Sender"],
                        kind=headers["Hub-Kind"],
                        sha256=headers["ETag"].strip('"'),
                        data=bytes(await part.read()),  # read() gives a bytearray
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
            return await resp.read()

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
