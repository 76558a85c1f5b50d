"""Online revocation: CRLs from a certificate's distribution points, OCSP from its AIA
responder — fetched only for certificates of a path that already validated to a configured
anchor, never for an arbitrary URL a sender supplies.

:class:`OnlineRevocationChecker` is a :class:`~signing.revocation.StaticRevocationChecker`
(same policy, same sources from files) that, when those sources say nothing about a
certificate, fetches over plain HTTP with a timeout:

* the URLs come from the certificate itself (``cRLDistributionPoints``,
  ``authorityInfoAccess`` id-ad-ocsp), ``http://`` only (RFC 5280 §4.2.1.13: CRLs and OCSP
  are signed objects, so TLS adds nothing; ``https``/``ldap``/``file`` are ignored);
* the answer is trusted only as the static checker would trust a file: a CRL must be signed
  by the certificate's issuer in the validated path, an OCSP response by the issuer or a
  delegated responder it certified;
* answers are memoised in the process until their nextUpdate, and handed to a cache shared
  by every worker (:attr:`fetched`, :meth:`remember`) — the hub stores them;
* every fetch is reported through ``reporter`` (a callable), so the caller can count
  failures, measure cache age and raise alarms: this package never imports the hub.

Nothing here runs unless the operator turns it on (``fetch_online``): hubs are often
air-gapped.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from .errors import RevocationUnknown
from .revocation import RevocationMode, RevocationStatus, StaticRevocationChecker

MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # a CRL larger than this is refused, not buffered
DEFAULT_FETCH_TIMEOUT = 2.0
NO_NEXT_UPDATE_TTL = 300.0  # seconds an answer without nextUpdate is reused
# After a failed fetch the source is not asked again for this long (per process), so a dead
# source costs one timeout, not one per package; the background refresh keeps trying.
RETRY_AFTER_FAILURE = 30.0

FetchKind = Literal["crl", "ocsp"]

log = logging.getLogger("signing.online")


@dataclass(frozen=True, slots=True)
class FetchedItem:
    """One CRL or OCSP response obtained online (picklable; what the shared cache holds).

    ``key``: the CRL's URL, or ``ocsp:<url>#<issuer key hash>:<serial hex>`` for OCSP.
    """

    kind: FetchKind
    key: str
    url: str
    der: bytes
    this_update: datetime
    next_update: datetime | None
    fetched_at: datetime

    @classmethod
    def of_crl(
        cls, url: str, crl: x509.CertificateRevocationList, fetched_at: datetime
    ) -> FetchedItem:
        """A CRL obtained from ``url`` (its key) at ``fetched_at``."""
        return cls(
            "crl",
            url,
            url,
            crl.public_bytes(serialization.Encoding.DER),
            crl.last_update_utc,
            crl.next_update_utc,
            fetched_at,
        )


@dataclass(frozen=True, slots=True)
class FetchEvent:
    """A fetch attempt, for metrics and alarms (``ok`` False: unreachable, timeout, junk)."""

    kind: FetchKind
    url: str
    ok: bool
    detail: str
    seconds: float
    next_update: datetime | None = None


Reporter = Callable[[FetchEvent], None]


class RevocationCache(Protocol):
    """Where fetched items are shared between processes (the hub: a directory per host,
    synchronised with its store). Implementations must tolerate concurrent writers."""

    def get(self, key: str) -> FetchedItem | None:
        """The item stored under ``key``, if any."""

    def put(self, item: FetchedItem) -> None:
        """Store ``item`` unless a newer one (by thisUpdate) is already there."""


class DirectoryRevocationCache:
    """A :class:`RevocationCache` in a directory: one ``<sha256(key)>.json`` file per item
    (metadata and DER in base64), written atomically (temporary file + rename), so every
    worker process on the host sees what any of them fetched."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def get(self, key: str) -> FetchedItem | None:
        """See :meth:`RevocationCache.get`; an unreadable file counts as absent."""
        try:
            doc = json.loads(self._path(key).read_text(encoding="utf-8"))
            item = item_from_json(doc)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return item if item.key == key else None

    def put(self, item: FetchedItem) -> None:
        """See :meth:`RevocationCache.put`."""
        known = self.get(item.key)
        if known is not None and known.this_update >= item.this_update:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self._path(item.key)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(item_to_json(item), fh)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def log_events(self, events: Sequence[FetchEvent]) -> None:
        """Append fetch attempts to this process's event log (``events-<pid>.jsonl``), for
        attempts no result carries back (a refused package); see :meth:`drain_events`."""
        if not events:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps(
                {
                    "kind": e.kind,
                    "url": e.url,
                    "ok": e.ok,
                    "detail": e.detail,
                    "seconds": e.seconds,
                    "next_update": e.next_update.isoformat() if e.next_update else None,
                }
            )
            + "\n"
            for e in events
        )
        with open(self.directory / f"events-{os.getpid()}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(lines)

    def drain_events(self) -> list[FetchEvent]:
        """Take every logged attempt (each log is renamed, read, then deleted)."""
        out: list[FetchEvent] = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("events-*.jsonl")):
            taken = path.with_name(f"draining-{os.getpid()}-{path.name}")
            try:
                os.replace(path, taken)
                text = taken.read_text(encoding="utf-8")
                taken.unlink()
            except OSError:
                continue
            for line in text.splitlines():
                try:
                    doc = json.loads(line)
                    out.append(
                        FetchEvent(
                            kind=doc["kind"],
                            url=str(doc["url"]),
                            ok=bool(doc["ok"]),
                            detail=str(doc["detail"]),
                            seconds=float(doc["seconds"]),
                            next_update=(
                                datetime.fromisoformat(doc["next_update"])
                                if doc["next_update"]
                                else None
                            ),
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    continue
        return out

    def items(self) -> list[FetchedItem]:
        """Every readable item."""
        out: list[FetchedItem] = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else ():
            try:
                out.append(item_from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return out


def item_to_json(item: FetchedItem) -> dict[str, object]:
    """JSON-friendly form of an item (DER in base64, times ISO 8601)."""
    return {
        "kind": item.kind,
        "key": item.key,
        "url": item.url,
        "der": base64.b64encode(item.der).decode("ascii"),
        "this_update": item.this_update.isoformat(),
        "next_update": item.next_update.isoformat() if item.next_update else None,
        "fetched_at": item.fetched_at.isoformat(),
    }


def item_from_json(doc: dict[str, Any]) -> FetchedItem:
    """Inverse of :func:`item_to_json`; ValueError/KeyError on malformed input."""
    kind = doc["kind"]
    if kind not in ("crl", "ocsp"):
        raise ValueError(f"unknown kind {kind!r}")
    return FetchedItem(
        kind=kind,
        key=str(doc["key"]),
        url=str(doc["url"]),
        der=base64.b64decode(doc["der"]),
        this_update=datetime.fromisoformat(doc["this_update"]),
        next_update=datetime.fromisoformat(doc["next_update"]) if doc["next_update"] else None,
        fetched_at=datetime.fromisoformat(doc["fetched_at"]),
    )


class FetchError(RevocationUnknown):
    """A revocation source could not be fetched or did not answer with a usable object: for
    the certificate it was asked about, its status is unknown."""


def _http_uris(names: Iterable[x509.GeneralName]) -> list[str]:
    """The ``http://`` URIs among ``names`` (the only scheme fetched)."""
    return [
        name.value
        for name in names
        if isinstance(name, x509.UniformResourceIdentifier)
        and name.value.lower().startswith("http://")
    ]


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The ``http://`` URLs of the certificate's CRL distribution points."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return _http_uris(name for point in points for name in point.full_name or ())


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The ``http://`` OCSP responder URLs of the certificate's authorityInfoAccess."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return _http_uris(
        d.access_location for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP
    )


def _http(url: str, timeout: float, body: bytes | None = None) -> bytes:
    headers = {"Accept": "*/*"}
    if body is not None:
        headers["Content-Type"] = "application/ocsp-request"
    if not url.lower().startswith("http://"):
        raise FetchError(f"{url}: only http:// sources are fetched")
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310  # http only
    # No proxies from the environment, no redirects to other schemes: the URL is the
    # certificate's, and only http:// URLs reach here.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"{url}: {exc}") from None
    if len(data) > MAX_RESPONSE_BYTES:
        raise FetchError(f"{url}: answer larger than {MAX_RESPONSE_BYTES} bytes")
    return data


def fetch_crl(
    url: str, *, timeout: float = DEFAULT_FETCH_TIMEOUT
) -> x509.CertificateRevocationList:
    """GET a CRL (DER, or PEM as some servers publish); FetchError if it is not one."""
    data = _http(url, timeout)
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise FetchError(f"{url}: not a CRL ({exc})") from None


def fetch_ocsp(
    url: str,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    timeout: float = DEFAULT_FETCH_TIMEOUT,
) -> ocsp.OCSPResponse:
    """POST an OCSP request for ``cert`` (SHA-1 CertID, as RFC 5019 responders expect)."""
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303  # CertID hash, RFC 5019
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    data = _http(url, timeout, body=request)
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise FetchError(f"{url}: not an OCSP response ({exc})") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise FetchError(f"{url}: OCSP responder says {response.response_status.name}")
    return response


def _ocsp_key(url: str, cert: x509.Certificate, issuer: x509.Certificate) -> str:
    issuer_key = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(issuer_key).hexdigest()[:32]
    return f"ocsp:{url}#{digest}:{cert.serial_number:x}"


class OnlineRevocationChecker(StaticRevocationChecker):
    """The static checker plus online CRL/OCSP for certificates of validated paths.

    ``cached``: items to start from (more with :meth:`remember`); ``cache``: a cache shared
    with other processes, read on a miss and written after every fetch; ``reporter``: called
    for every fetch attempt; ``clock``: "now" for cache freshness (injected by tests).
    Thread-safe.
    """

    def __init__(
        self,
        crls: Sequence[x509.CertificateRevocationList] = (),
        ocsp_responses: Sequence[ocsp.OCSPResponse] = (),
        *,
        mode: RevocationMode = "hard-fail",
        fetch_timeout: float = DEFAULT_FETCH_TIMEOUT,
        cached: Iterable[FetchedItem] = (),
        reporter: Reporter | None = None,
        clock: Callable[[], datetime] | None = None,
        cache: RevocationCache | None = None,
    ) -> None:
        super().__init__(crls, ocsp_responses, mode=mode)
        self.cache = cache
        if fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        self.fetch_timeout = fetch_timeout
        self.reporter = reporter
        self._clock = clock or (lambda: datetime.now(UTC))
        self._memo: dict[str, FetchedItem] = {}
        self._fetched: list[FetchedItem] = []
        self._memo_lock = threading.Lock()
        self._failed_until: dict[str, datetime] = {}
        self._parsed_items: dict[str, tuple[datetime, StaticRevocationChecker]] = {}
        self.remember(cached)

    def extended(
        self,
        crls: Sequence[x509.CertificateRevocationList],
        ocsp_responses: Sequence[ocsp.OCSPResponse],
        mode: RevocationMode,
    ) -> StaticRevocationChecker:
        """Same online sources and memo, more static data (a PDF's DSS)."""
        other = OnlineRevocationChecker(
            self.crls + tuple(crls),
            self.ocsp_responses + tuple(ocsp_responses),
            mode=mode,
            fetch_timeout=self.fetch_timeout,
            reporter=self.reporter,
            clock=self._clock,
            cache=self.cache,
        )
        other._memo = self._memo  # shared: a fetch for one PDF serves the next
        other._memo_lock = self._memo_lock
        other._failed_until = self._failed_until
        other._parsed_items = self._parsed_items
        other._fetched = self._fetched
        return other

    def remember(self, items: Iterable[FetchedItem]) -> None:
        """Load items from the shared cache (newer ones replace older ones)."""
        with self._memo_lock:
            for item in items:
                known = self._memo.get(item.key)
                if known is None or known.this_update < item.this_update:
                    self._memo[item.key] = item

    def take_fetched(self) -> tuple[FetchedItem, ...]:
        """Items fetched since the last call (for the caller to put in the shared cache)."""
        with self._memo_lock:
            out = tuple(self._fetched)
            self._fetched.clear()
        return out

    def status(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        *,
        at: datetime,
        fetch: bool = False,
    ) -> RevocationStatus:
        """As the static checker; then, with ``fetch`` (the path validated to an anchor),
        the cache and the certificate's own CRL and OCSP sources."""
        result = super().status(cert, issuer, at=at)
        if result.status != "unknown" or not fetch:
            return result
        reasons = [result.detail]
        sources: tuple[tuple[FetchKind, list[str]], ...] = (
            ("crl", crl_urls(cert)),
            ("ocsp", ocsp_urls(cert)),
        )
        for kind, urls in sources:  # every CRL first, then OCSP
            for url in urls:
                key, fetch_item = self._fetcher(kind, url, cert, issuer)
                found = self._from_source(kind, url, key, fetch_item, cert, issuer, at, reasons)
                if found is not None:
                    return found
        return RevocationStatus("unknown", "none", "; ".join(r for r in reasons if r))

    def _usable(self, key: str, at: datetime) -> FetchedItem | None:
        """The newest known item (memo, then the shared cache) if it answers for ``at``:
        ``at`` not past its nextUpdate. So a CRL cached at signing time still answers for a
        signature time-stamped then (long-term validation), and at the reception time
        (``at`` ≈ now) an item past its nextUpdate is fetched again."""
        with self._memo_lock:
            item = self._memo.get(key)
        if (item is None or not self._covers(item, at)) and self.cache is not None:
            shared = self.cache.get(key)
            if shared is not None and (item is None or shared.this_update > item.this_update):
                item = shared
                with self._memo_lock:
                    self._memo[key] = shared
        if item is None or not self._covers(item, at):
            return None
        return item

    def _covers(self, item: FetchedItem, at: datetime) -> bool:
        if item.next_update is not None:
            return at <= item.next_update
        # An answer without nextUpdate is asked again after a while.
        return (self._clock() - item.fetched_at).total_seconds() <= NO_NEXT_UPDATE_TTL

    def _parsed(self, item: FetchedItem) -> StaticRevocationChecker:
        """A checker over this one item, parsed once per (key, thisUpdate): the CRL's
        signature verification is cached inside it, so the accept path pays a lookup."""
        with self._memo_lock:
            known = self._parsed_items.get(item.key)
        if known is not None and known[0] == item.this_update:
            return known[1]
        if item.kind == "crl":
            checker = StaticRevocationChecker([x509.load_der_x509_crl(item.der)], mode="hard-fail")
        else:
            response = ocsp.load_der_ocsp_response(item.der)
            checker = StaticRevocationChecker([], [response], mode="hard-fail")
        with self._memo_lock:
            self._parsed_items[item.key] = (item.this_update, checker)
        return checker

    def _recently_failed(self, url: str) -> datetime | None:
        with self._memo_lock:
            until = self._failed_until.get(url)
        return until if until is not None and self._clock() < until else None

    def _note_failure(self, url: str) -> None:
        with self._memo_lock:
            self._failed_until[url] = self._clock() + timedelta(seconds=RETRY_AFTER_FAILURE)

    def _store(self, item: FetchedItem) -> None:
        with self._memo_lock:
            self._memo[item.key] = item
            self._fetched.append(item)
        if self.cache is not None:
            try:
                self.cache.put(item)
            except OSError as exc:  # the memo still serves this process
                log.warning("cannot write the revocation cache: %s", exc)

    def _report(self, event: FetchEvent) -> None:
        if self.reporter is not None:
            try:
                self.reporter(event)
            except Exception:  # metrics must never break validation
                log.exception("revocation fetch reporter failed")

    def _fetcher(
        self, kind: FetchKind, url: str, cert: x509.Certificate, issuer: x509.Certificate
    ) -> tuple[str, Callable[[], FetchedItem]]:
        """The cache key of one source and how to fetch it: a CRL is keyed by its URL, an
        OCSP answer by URL, issuer and serial (see :func:`_ocsp_key`)."""
        if kind == "crl":
            return url, lambda: FetchedItem.of_crl(
                url, fetch_crl(url, timeout=self.fetch_timeout), self._clock()
            )
        key = _ocsp_key(url, cert, issuer)

        def fetch_answer() -> FetchedItem:
            response = fetch_ocsp(url, cert, issuer, timeout=self.fetch_timeout)
            singles = list(response.responses)
            this_update = min(s.this_update_utc for s in singles) if singles else self._clock()
            next_updates = [s.next_update_utc for s in singles if s.next_update_utc is not None]
            return FetchedItem(
                "ocsp",
                key,
                url,
                response.public_bytes(serialization.Encoding.DER),
                this_update,
                min(next_updates) if next_updates else None,
                self._clock(),
            )

        return key, fetch_answer

    def _from_source(
        self,
        kind: FetchKind,
        url: str,
        key: str,
        fetch: Callable[[], FetchedItem],
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: datetime,
        reasons: list[str],
    ) -> RevocationStatus | None:
        """One CRL or OCSP source: the usable cached item, else ``fetch`` (unless the URL
        failed lately), reported and stored; ``None`` (with the reason) when it cannot say."""
        label = kind.upper()
        item = self._usable(key, at)
        if item is None and (until := self._recently_failed(url)) is not None:
            reasons.append(f"{label} {url} unreachable (not retried before {until.isoformat()})")
            return None
        if item is None:
            started = time.perf_counter()
            try:
                item = fetch()
            except FetchError as exc:
                self._note_failure(url)
                self._report(FetchEvent(kind, url, False, str(exc), time.perf_counter() - started))
                reasons.append(f"{label} {url} unreachable: {exc}")
                return None
            self._report(
                FetchEvent(kind, url, True, "", time.perf_counter() - started, item.next_update)
            )
            self._store(item)
        result = self._parsed(item).status(cert, issuer, at=at)
        if result.status == "unknown":
            # A CRL says why (e.g. not covering ``at``); an OCSP miss is always the same.
            detail = result.detail if kind == "crl" else "no usable answer for this certificate"
            reasons.append(f"{label} {url}: {detail}")
            return None
        return RevocationStatus(result.status, kind, f"{url} {result.detail}".strip())
