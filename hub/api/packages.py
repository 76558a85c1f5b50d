"""Agency endpoints: submit, validate, inbox, outbox, fetch, ack, receipt, trace."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import MultipartWriter, web

from hub.api.keys import CALLER, RUNTIME
from hub.api.params import page_limit, text_query
from hub.audit.acks import MAX_ACK_BYTES, verify_ack
from hub.errors import (
    BadBody,
    BadCursor,
    BadParameter,
    BodyTimeout,
    HubError,
    NotFound,
    PackageTooLarge,
)
from hub.lifecycle.engine import lifecycle_trace
from hub.metrics import ACCEPTED, ACKS, INGEST_SECONDS, REFUSED, REPEATED
from hub.models import (
    DeliveryChange,
    DeliveryRecord,
    DeliveryState,
    FetchedPackage,
    PackageRecord,
)
from hub.pipeline.facts import package_warnings
from hub.receipts import format_instant
from hub.runtime import Runtime
from hub.store.cursors import decode_cursor  # the cursor format every backend shares
from hub.store.records import SignedAck

routes = web.RouteTableDef()

XML = "application/xml"
XML_UTF8 = f"{XML}; charset=utf-8"


def _caller(request: web.Request) -> str:
    caller: str = request[CALLER]
    return caller


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the request body, refusing it as soon as it passes ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading anything; a body
    that takes longer than ``[http] body_timeout`` to arrive is refused (``408``), so a slow
    sender cannot hold a connection and a handler forever.

    The chunks go into one :class:`io.BytesIO`, whose buffer grows in place and is handed
    out by ``getvalue()`` without a copy: the body is in memory once, where a list of chunks
    joined at the end holds it twice (issue 10: packages up to the whole limit).
    """
    if request.content_length is not None and request.content_length > limit:
        raise PackageTooLarge(
            f"{request.content_length} bytes declared; the limit is {limit}", limit=limit
        )
    if not request.body_exists:
        # Nothing to wait for (an ack without a signed body, the pullers' usual one): no
        # timer, no reader loop on every such request.
        return b""
    timeout = _runtime(request).config.settings.http.body_timeout
    body = io.BytesIO()
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise PackageTooLarge(f"more than {limit} bytes sent", limit=limit)
                body.write(chunk)
    except TimeoutError:
        raise BodyTimeout(
            f"{size} bytes received in {timeout:g} s; the body must arrive within "
            f"{timeout:g} s ([http] body_timeout)"
        ) from None
    return body.getvalue()


def _limit(request: web.Request) -> int:
    return _runtime(request).config.settings.max_package_bytes


@routes.post("/v1/packages")
async def submit(request: web.Request) -> web.Response:
    """Submit a signed package; ``202`` with the signed receipt (``200`` for a repeat)."""
    try:
        data = await read_body(request, _limit(request))
        started = time.perf_counter()
        accepted = await _runtime(request).ingestor.submit(data, _caller(request))
    except HubError as exc:
        # Only real submissions count as refused packages (not 404s, 401s or dry runs).
        REFUSED.labels(code=exc.code).inc()
        raise
    INGEST_SECONDS.observe(time.perf_counter() - started)
    if accepted.created:
        ACCEPTED.labels(kind=accepted.kind).inc()
    else:
        REPEATED.inc()
    return web.Response(
        status=202 if accepted.created else 200,
        body=accepted.receipt,
        content_type=XML,
        charset="utf-8",
        headers={
            "Location": f"/v1/packages/{accepted.package_id}",
            "Hub-Package-Id": accepted.package_id,
        },
    )


@routes.post("/v1/validate")
async def validate(request: web.Request) -> web.Response:
    """Every submission check, nothing stored: a dry run for integrators."""
    data = await read_body(request, _limit(request))
    routed = await _runtime(request).ingestor.check(data, _caller(request))
    pkg = routed.checked.package
    return web.json_response(
        {
            "valid": True,
            "kind": pkg.kind,
            "from": pkg.sender,
            "recipients": list(routed.recipients),
            "stands_for": {r: list(c) for r, c in routed.stands_for.items()},
            "document_id": pkg.reference_document_id,
            "sha256": routed.checked.sha256,
            "size": routed.checked.size,
            "signer": {
                "fingerprint_sha256": routed.checked.signer_fingerprint,
                "subject": routed.checked.signer_subject,
                "signature_method": routed.checked.signature_method,
            },
            "warnings": list(package_warnings(routed.checked)),  # as the receipt would state
        }
    )


def _delivery_json(d: DeliveryRecord) -> dict[str, Any]:
    return {
        "organ_id": d.recipient,
        "state": str(d.state),
        "attempts": d.attempts,
        "updated_at": format_instant(d.updated_at),
        "acked_at": format_instant(d.acked_at) if d.acked_at else None,
        "last_error": d.last_error,
        "stands_for": list(d.stands_for),  # sub-units it receives the package for (issue 10)
    }


def _package_json(p: PackageRecord) -> dict[str, Any]:
    return {
        "id": p.id,
        "from": p.sender,
        "kind": str(p.kind),
        "document_id": p.document_id,
        "subject": p.subject,
        "sha256": p.sha256,
        "size": p.size,
        "accepted_at": format_instant(p.accepted_at),
        "warnings": list(p.warnings),  # as stated on the receipt
    }


def _page_args(
    request: web.Request, hint: str = "the 'next' value of the previous page"
) -> tuple[str | None, int]:
    """``cursor`` (checked: ``400 request.bad_cursor`` for one the hub did not hand out, the
    message saying to pass back ``hint``) and ``limit``."""
    cursor = request.query.get("cursor") or None
    try:
        decode_cursor(cursor)
    except ValueError:
        raise BadCursor(f"cursor: pass back {hint}") from None
    return cursor, page_limit(request)


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: true/false or 1/0; absent is false (present but empty is
    refused like any other value that is not a boolean)."""
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadParameter(f"{name} must be true or false, not {raw!r}", parameter=name)
    return raw in ("true", "1")


@routes.get("/v1/inbox")
async def inbox(request: web.Request) -> web.Response:
    """The caller's packages waiting to be acknowledged, oldest first."""
    cursor, limit = _page_args(request)
    include_acked = _flag(request, "include_acked")
    page = await _runtime(request).store.inbox(
        _caller(request),
        cursor=cursor,
        limit=limit,
        include_acked=include_acked,
        q=text_query(request),
    )
    items = []
    for item in page.items:
        entry = _package_json(item.package)
        entry["state"] = str(item.delivery.state)
        # The original (sub-unit) codes the caller receives this package for; [] when it is
        # addressed in its own name only (issue 10).
        entry["stands_for"] = list(item.delivery.stands_for)
        items.append(entry)
    return web.json_response({"items": items, "next": page.next})


@routes.get("/v1/outbox")
async def outbox(request: web.Request) -> web.Response:
    """The caller's sent packages with the state of each delivery."""
    cursor, limit = _page_args(request)
    page = await _runtime(request).store.outbox(
        _caller(request), cursor=cursor, limit=limit, q=text_query(request)
    )
    items = []
    for record, deliveries in page.items:
        entry = _package_json(record)
        entry["recipients"] = [_delivery_json(d) for d in deliveries]
        items.append(entry)
    return web.json_response({"items": items, "next": page.next})


async def _visible(request: web.Request) -> PackageRecord:
    """The package, if the caller is its sender (or represents it: a sub-unit's package sent
    through its province's system), or one of its recipients; else ``404`` (never ``403``:
    others must not learn that a package id exists)."""
    package_id = request.match_info["package_id"]
    return _check_visible(
        request, package_id, await _runtime(request).store.get_package(package_id)
    )


def _check_visible(
    request: web.Request, package_id: str, record: PackageRecord | None
) -> PackageRecord:
    """``record`` if the caller may see it (see :func:`_visible`), else ``404``."""
    caller = _caller(request)
    if record is None or (
        not _runtime(request).registry.speaks_for(caller, record.sender)
        and caller not in record.recipients
    ):
        raise NotFound(f"no package {package_id} for {caller}")
    return record


#: A fetch marks ``delivered`` only what is ``available`` (conditional in the store: an ack
#: or another fetch that got there first is kept).
_FETCHED = frozenset({DeliveryState.AVAILABLE})


@routes.get("/v1/packages/{package_id}")
async def fetch(request: web.Request) -> web.Response:
    """The exact bytes the sender submitted; a recipient's first fetch marks its delivery
    ``delivered`` (written just after the answer: the ack is what settles a delivery)."""
    package_id = request.match_info["package_id"]
    rt = _runtime(request)
    caller = _caller(request)
    # Record, bytes and the caller's delivery in one read.
    fetched = await rt.store.fetch_package(package_id, caller)
    record = _check_visible(request, package_id, None if fetched is None else fetched.record)
    assert fetched is not None  # visible
    data = fetched.data
    if data is None:  # pragma: no cover - bytes are stored with the record
        raise HubError(f"package {record.id} has no bytes")
    if fetched.delivery is not None and fetched.delivery.state == DeliveryState.AVAILABLE:
        # Not awaited: the bytes go out without waiting for this commit. The mark is
        # informative — the ack is what a delivery is settled by — and a crash that loses
        # it leaves the delivery `available`, offered again: at least once, as the inbox
        # promises. An ack that follows through this process is queued behind it.
        rt.settler.settle_soon(
            DeliveryChange(
                record.id,
                caller,
                DeliveryState.DELIVERED,
                detail={"via": "pull"},
                only_from=_FETCHED,
            )
        )
    return web.Response(
        body=data,
        content_type=XML,
        charset="utf-8",
        headers={
            "Hub-Package-Id": record.id,
            "Hub-Sender": record.sender,
            "Hub-Kind": str(record.kind),
            "ETag": f'"{record.sha256}"',
        },
    )


#: At most this many packages in one answer of ``GET /v1/inbox/packages``, whatever
#: ``limit`` asks (it takes 1–1000 like every listing).
BATCH_MAX_PACKAGES = 100
#: A batch stops before the package that would take its bytes past this; the first package
#: is always sent, so one larger than the budget comes alone. Bounds the answer (it is built
#: in memory) at a few MiB per request.
BATCH_MAX_BYTES = 4 * 1024 * 1024
#: At most this many ids in one ``POST /v1/inbox/acks``, and the bytes of its body.
BATCH_MAX_ACKS = 1000
BATCH_ACK_BODY_BYTES = 128 * 1024
#: The longest package id a batch ack takes (the hub's are 32 characters).
BATCH_MAX_ID_CHARS = 128


def _part_headers(item: FetchedPackage) -> dict[str, str]:
    """The headers of one package's part: those of ``GET /v1/packages/{id}`` and the
    sub-units the caller receives it for (``Hub-Stands-For``, when any); aiohttp adds the
    part's Content-Length."""
    record = item.record
    headers = {
        "Content-Type": XML_UTF8,
        "Hub-Package-Id": record.id,
        "Hub-Sender": record.sender,
        "Hub-Kind": str(record.kind),
        "ETag": f'"{record.sha256}"',
    }
    if item.delivery is not None and item.delivery.stands_for:
        headers["Hub-Stands-For"] = ", ".join(item.delivery.stands_for)
    return headers


def multipart_body(items: Sequence[FetchedPackage]) -> MultipartWriter:
    """``items`` as a ``multipart/mixed`` body (RFC 2046), each package's bytes untouched in
    its own part.

    The boundary is 128 random bits drawn for this answer, after the bytes were stored: no
    sender can have put it in a package, so the parts need not be searched for it.
    """
    writer = MultipartWriter("mixed", boundary=f"hub-{secrets.token_hex(16)}")
    for item in items:
        writer.append(item.data or b"", _part_headers(item))
    return writer


#: The response header of ``GET /v1/inbox/packages`` with the position of the answer's last
#: package (an inbox cursor): passed back as ``cursor``, the next batch starts after it.
NEXT_CURSOR_HEADER = "Hub-Next-Cursor"


@routes.get("/v1/inbox/packages")
async def fetch_batch(request: web.Request) -> web.Response:
    """The caller's oldest waiting packages (after ``cursor`` when given) with their exact
    bytes, one ``multipart/mixed`` part each, and the position of the last one in
    ``Hub-Next-Cursor`` (``204`` when none waits); every ``available`` one is marked
    ``delivered`` in one grouped write after the answer, as a single fetch marks it."""
    cursor, limit = _page_args(request, f"the {NEXT_CURSOR_HEADER} of the previous batch")
    limit = min(limit, BATCH_MAX_PACKAGES)
    rt = _runtime(request)
    caller = _caller(request)
    batch = await rt.store.inbox_packages(
        caller, limit=limit, max_bytes=BATCH_MAX_BYTES, cursor=cursor
    )
    if not batch.items or batch.next is None:  # a batch with items has a last position
        return web.Response(status=204)
    marks = [
        DeliveryChange(
            item.record.id,
            caller,
            DeliveryState.DELIVERED,
            detail={"via": "pull"},
            only_from=_FETCHED,
        )
        for item in batch.items
        if item.delivery is not None and item.delivery.state == DeliveryState.AVAILABLE
    ]
    if marks:
        # One settle call: the marks go into one group, not awaited (see ``fetch``).
        rt.settler.settle_soon(*marks)
    return web.Response(body=multipart_body(batch.items), headers={NEXT_CURSOR_HEADER: batch.next})


def _ack_ids(body: bytes) -> list[str]:
    """The distinct ids of a batch ack's body ``{"ids": [...]}``, in order (a repeated id is
    answered once); ``400 request.bad_body`` for anything else."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise BadBody('the body must be JSON: {"ids": ["<package id>", ...]}') from None
    ids = parsed.get("ids") if isinstance(parsed, dict) else None
    if not isinstance(ids, list):
        raise BadBody('the body must be an object with "ids", a list of package ids')
    if len(ids) > BATCH_MAX_ACKS:
        raise BadBody(f"{len(ids)} ids: at most {BATCH_MAX_ACKS} in one batch")
    for i in ids:
        if not isinstance(i, str) or not 1 <= len(i) <= BATCH_MAX_ID_CHARS:
            raise BadBody(f"ids: each must be a package id (1–{BATCH_MAX_ID_CHARS} characters)")
    return list(dict.fromkeys(ids))


@routes.post("/v1/inbox/acks")
async def ack_batch(request: web.Request) -> web.Response:
    """The caller acknowledges several packages in one grouped write; per id as ``POST
    /v1/packages/{id}/ack`` answers (idempotent, counted once), or ``package.not_found``
    for an id the caller is not a recipient of. Unsigned only."""
    ids = _ack_ids(await read_body(request, BATCH_ACK_BODY_BYTES))
    rt = _runtime(request)
    caller = _caller(request)
    at = rt.clock()
    # A delivery exists only for a recipient: one that is not (or an unknown id) settles as
    # "no such delivery", answered alike, so nobody learns which package ids exist.
    settled = await rt.settler.settle(
        *(DeliveryChange(i, caller, DeliveryState.ACKED, at=at) for i in ids)
    )
    items: list[dict[str, Any]] = []
    counts = {"acked": 0, "already_acked": 0, "not_found": 0}
    for package_id, outcome in zip(ids, settled, strict=True):
        delivery = outcome.record
        if delivery is None:
            counts["not_found"] += 1
            items.append(
                {
                    "id": package_id,
                    "acked_at": None,
                    "already_acked": False,
                    "code": NotFound.code,
                }
            )
            continue
        if outcome.changed:
            ACKS.inc()
            counts["acked"] += 1
        else:
            counts["already_acked"] += 1
        items.append(
            {
                "id": package_id,
                "acked_at": format_instant(delivery.acked_at) if delivery.acked_at else None,
                "already_acked": not outcome.changed,
            }
        )
    return web.json_response({"organ_id": caller, "items": items, **counts})


@routes.get("/v1/packages/{package_id}/receipt")
async def receipt(request: web.Request) -> web.Response:
    """The signed receipt the hub issued for the package."""
    record = await _visible(request)
    data = await _runtime(request).store.get_receipt(record.id)
    if data is None:  # pragma: no cover
        raise NotFound(f"no receipt for {record.id}")
    return web.Response(body=data, content_type=XML, charset="utf-8")


@routes.post("/v1/packages/{package_id}/ack")
async def ack(request: web.Request) -> web.Response:
    """The recipient acknowledges the package; idempotent, counted once. The body may be
    an acknowledgement signed by the recipient (``schemas/ack/v1``), kept as evidence."""
    record = await _visible(request)
    caller = _caller(request)
    if caller not in record.recipients:
        raise NotFound(f"{caller} is not a recipient of {record.id}")
    rt = _runtime(request)
    body = await read_body(request, MAX_ACK_BYTES)
    signed = bool(body.strip())
    notes: tuple[str, ...] = ()
    if signed:
        # Verified before the ack is recorded: a refused signed ack acknowledges nothing.
        # Off the event loop: RSA verification and C14N take a millisecond or two.
        facts = await asyncio.to_thread(
            verify_ack,
            body,
            package_id=record.id,
            recipient=caller,
            sha256=record.sha256,
            signer_bound=rt.registry.signer_bound,
            trust=rt.ack_trust(),  # the packages' path and revocation checks (issue 14)
            at=rt.clock(),
        )
        notes = facts.revocation_notes
        await rt.store.audit().add_signed_ack(
            SignedAck(package_id=record.id, recipient=caller, received_at=rt.clock(), data=body)
        )
    (settled,) = await rt.settler.settle(
        DeliveryChange(record.id, caller, DeliveryState.ACKED, at=rt.clock())
    )
    delivery, first = settled.record, settled.changed
    if delivery is None:  # pragma: no cover - a recipient always has its delivery
        raise NotFound(f"{caller} has no delivery of {record.id}")
    if first:
        ACKS.inc()
    answer: dict[str, Any] = {
        "id": record.id,
        "organ_id": caller,
        "acked_at": format_instant(delivery.acked_at) if delivery.acked_at else None,
        "already_acked": not first,
        "signed": signed,
    }
    if notes:
        answer["warnings"] = ["signature.revocation_unknown"]
    return web.json_response(answer)


@routes.get("/v1/packages/{package_id}/trace")
async def trace(request: web.Request) -> web.Response:
    """The package's timeline: accepted, per-recipient deliveries, status packages."""
    record = await _visible(request)
    store = _runtime(request).store
    deliveries = await store.deliveries_for(record.id)
    events = await store.events_for(record.id)
    statuses = (
        await store.related_statuses(record.sender, record.document_id)
        if record.kind == "document" and record.document_id
        else []
    )
    body = _package_json(record)
    body.update(
        {
            "recipients": [_delivery_json(d) for d in deliveries],
            "signer": {
                "fingerprint_sha256": record.signer_fingerprint,
                "subject": record.signer_subject,
            },
            "warnings": list(record.warnings),
            "business_doc_type": record.business_doc_type,
            "status_code": record.status_code,
            "events": [
                {
                    "at": format_instant(e.at),
                    "kind": e.kind,
                    "recipient": e.recipient,
                    "attempt": e.attempt,
                    "detail": e.detail,
                }
                for e in events
            ],
            "statuses": [
                {
                    "id": s.id,
                    "from": s.sender,
                    "status_code": s.status_code,
                    "accepted_at": format_instant(s.accepted_at),
                }
                for s in statuses
            ],
        }
    )
    body["lifecycle"] = await lifecycle_trace(store, record)  # issue 5: states and history
    return web.json_response(body, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
