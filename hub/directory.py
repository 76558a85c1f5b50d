"""The agency directory (issue 11, ``docs/directory.md``): every agency the hub knows, as one
list.

Two sources, merged by code:

* **connected** agencies — the registry (``agencies.toml`` plus runtime changes): they have a
  system, credentials, a delivery mode;
* **directory entries** — agencies known by code, name and parent only, loaded into the store
  by ``hub agency import`` (:mod:`hub.directory_import`). An entry never connects anything:
  routing (:mod:`hub.routing`) reads the registry alone, so a package to an imported
  sub-unit still goes to its nearest connected ancestor (``represented_by`` here).

A code in both is *connected*: its name, delivery mode and kinds come from the registry; the
entry adds its ``code102``/``old_code`` and, if given, its parent.

The same entries are served by ``GET /v1/agencies`` (:mod:`hub.api.agencies`), the
dashboard's Directory page and the VXP directory calls (:func:`vxp_agency`,
:func:`vxp_sync_unit`), so every view lists the same agencies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from hub.edxml.organ_id import InvalidOrganId, OrganId
from hub.models import DirectoryRecord, Page
from hub.registry import Registry
from hub.store.abc import Store
from hub.text import words

__all__ = [
    "Directory",
    "DirectoryEntry",
    "DirectoryFilter",
    "decode_cursor",
    "encode_cursor",
    "sort_key",
    "structural_parent",
    "vxp_agency",
    "vxp_directory",
    "vxp_sync_unit",
]

#: Sort key of a code: the OrganId's groups most significant first, so a parent sorts right
#: before its descendants and a province's units stay together. A code that is not an
#: OrganId (a hand-edited row) sorts after every valid one instead of breaking the listing.
SortKey = tuple[str, str, str, str, str]


def sort_key(code: str) -> SortKey:
    """The directory order of ``code`` (parents before children, provinces together)."""
    try:
        o = OrganId.parse(code)
    except InvalidOrganId:
        return ("~", code, "", "", "")
    return (o.level1, o.level2, o.level3, o.level4, "")


def structural_parent(code: str) -> str | None:
    """The parent the code itself names (:attr:`OrganId.parent`), ``None`` at level 1 or for
    a code that is not an OrganId."""
    try:
        parent = OrganId.parse(code).parent
    except InvalidOrganId:
        return None
    return None if parent is None else str(parent)


def _describe(code: str) -> tuple[SortKey, int, str | None]:
    """:func:`sort_key`, level and :func:`structural_parent` of ``code``, parsed once."""
    try:
        o = OrganId.parse(code)
    except InvalidOrganId:
        return ("~", code, "", "", ""), 0, None
    parent = o.parent
    return (o.level1, o.level2, o.level3, o.level4, ""), o.level, (str(parent) if parent else None)


def _level(code: str) -> int:
    try:
        return OrganId.parse(code).level
    except InvalidOrganId:
        return 0


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One agency as the directory shows it (no secrets: no tokens, certificates or push
    addresses).

    ``connected``: registered in ``agencies.toml`` (it has a system and credentials);
    ``enabled``: connected and not disabled. ``may_send`` and ``delivery`` (``pull`` |
    ``push``) only for connected agencies (``()``/``None`` otherwise). ``represented_by``:
    for an entry that is not connected, the connected agency that receives its packages
    (:meth:`Registry.representative`), ``None`` if nobody does (then packages to it are
    refused). ``revision``/``updated_at``: the import that last changed the stored entry
    (0/``None`` for a connected agency the directory file never named).
    """

    code: str
    name: str
    parent: str | None
    level: int
    connected: bool
    enabled: bool = False
    may_send: tuple[str, ...] = ()
    delivery: str | None = None
    code102: str | None = None
    old_code: str | None = None
    represented_by: str | None = None
    revision: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DirectoryFilter:
    """Which entries a listing returns (every field ``None``: all).

    ``level``: 1..4 (:attr:`OrganId.level`); ``parent``: the direct children of that code;
    ``connected``: only connected (``True``) or only directory entries (``False``); ``q``:
    every word of ``q`` (folded with :func:`hub.text.fold`: no diacritics, no case) begins a
    word of the name or of the code, so ``"so tai chinh"`` finds ``Sở Tài chính`` and
    ``"h29"`` every code of Hà Nội.
    """

    level: int | None = None
    parent: str | None = None
    connected: bool | None = None
    q: str | None = None


def encode_cursor(code: str) -> str:
    """An opaque cursor for "after ``code``" in directory order."""
    return base64.urlsafe_b64encode(f"a{code}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The code a cursor stands for (``None``: from the start); ``ValueError`` if malformed."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if not raw.startswith("a") or len(raw) < 2:
        raise ValueError(f"invalid cursor {cursor!r}")
    return raw[1:]


class Directory:
    """Connected agencies and stored directory entries, merged, filtered and paged.

    The stored entries are cached per process and read again only when the store's
    :meth:`~hub.store.abc.Store.directory_revision` moved (one indexed look-up per call), so
    an import reaches every running hub process on its next request. The registry is read
    live: disabling an agency shows at once.
    """

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._revision = -1
        self._records: dict[str, DirectoryRecord] = {}
        self._sorted: list[tuple[SortKey, str]] = []
        #: code → (level, parent): parsed once per import, not once per listed entry
        self._meta: dict[str, tuple[int, str | None]] = {}
        #: code → " word word … ": folded name and code words, built on the first search
        self._search: dict[str, str] | None = None
        self._lock = asyncio.Lock()

    async def _refresh(self) -> Mapping[str, DirectoryRecord]:
        revision = await self._store.directory_revision()
        if revision != self._revision:
            async with self._lock:
                if revision != self._revision:
                    records = await self._store.directory_records()
                    self._records = {r.code: r for r in records}
                    described = [(r, _describe(r.code)) for r in records]  # one parse each
                    self._sorted = sorted((d[0], r.code) for r, d in described)
                    self._meta = {r.code: (d[1], r.parent or d[2]) for r, d in described}
                    self._search = None
                    # Labelled with the revision read first: if an import landed in between,
                    # the next call sees a newer revision and reads again (never stale).
                    self._revision = revision
        return self._records

    def _level_of(self, code: str) -> int:
        meta = self._meta.get(code)
        return meta[0] if meta is not None else _level(code)

    def _search_index(self) -> dict[str, str]:
        # Folding every name costs ~10 µs each: done on the first search after an import,
        # not on every refresh (most listings never search).
        if self._search is None:
            self._search = {r.code: _search_text(r.name, r.code) for r in self._records.values()}
        return self._search

    def _entry(self, code: str, record: DirectoryRecord | None) -> DirectoryEntry:
        agency = self._registry.get(code)
        revision = record.revision if record else 0
        updated = record.updated_at if record else None
        meta = self._meta.get(code) if record is not None else None
        level, parent = meta if meta is not None else (_level(code), structural_parent(code))
        if agency is not None:
            return DirectoryEntry(
                code=code,
                name=agency.name,
                parent=parent,
                level=level,
                connected=True,
                enabled=agency.enabled,
                may_send=tuple(agency.may_send),
                delivery=agency.delivery,
                code102=record.code102 if record else None,
                old_code=record.old_code if record else None,
                revision=revision,
                updated_at=updated,
            )
        assert record is not None  # every listed code comes from the registry or the store
        return DirectoryEntry(
            code=code,
            name=record.name,
            parent=parent,
            level=level,
            connected=False,
            code102=record.code102,
            old_code=record.old_code,
            represented_by=self._registry.representative(code),
            revision=revision,
            updated_at=updated,
        )

    def _select(
        self, records: Mapping[str, DirectoryRecord], flt: DirectoryFilter, after: str | None
    ) -> Iterator[DirectoryEntry]:
        start = sort_key(after) if after is not None else None
        registered = sorted(
            (sort_key(a.organ_id), a.organ_id)
            for a in self._registry.all()
            if start is None or sort_key(a.organ_id) > start
        )
        stored: Iterable[tuple[SortKey, str]] = self._sorted
        if start is not None:
            # The cached list is sorted: skip to the cursor instead of scanning from the top.
            lo, hi = 0, len(self._sorted)
            while lo < hi:
                mid = (lo + hi) // 2
                if self._sorted[mid][0] <= start:
                    lo = mid + 1
                else:
                    hi = mid
            stored = self._sorted[lo:]
        q_words = words(flt.q) if flt.q else ()
        search = self._search_index() if q_words else {}
        last: str | None = None
        for _key, code in heapq.merge(registered, stored):
            if code == last:
                continue  # both connected and stored: once, as connected
            last = code
            connected = self._registry.get(code) is not None
            if flt.connected is not None and connected != flt.connected:
                continue
            if flt.level is not None and self._level_of(code) != flt.level:
                continue
            record = records.get(code)
            if q_words:
                agency = self._registry.get(code)
                found = _search_text(agency.name, code) if agency else search.get(code, "")
                # " word" in " w1 w2 …": the query word begins one of the words
                if not all(f" {q}" in found for q in q_words):
                    continue
            entry = self._entry(code, record)
            if flt.parent is not None and entry.parent != flt.parent:
                continue
            yield entry

    async def entries(
        self,
        flt: DirectoryFilter | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[DirectoryEntry]:
        """A page of the directory in directory order (:func:`sort_key`), filtered by
        ``flt``; ``next`` is an opaque cursor (``None`` on the last page). ``ValueError``
        for a malformed cursor."""
        after = decode_cursor(cursor)
        records = await self._refresh()
        items: list[DirectoryEntry] = []
        for entry in self._select(records, flt or DirectoryFilter(), after):
            if len(items) == limit:
                return Page(items=tuple(items), next=encode_cursor(items[-1].code))
            items.append(entry)
        return Page(items=tuple(items), next=None)

    async def all(self, flt: DirectoryFilter | None = None) -> list[DirectoryEntry]:
        """Every entry matching ``flt``, in directory order (the VXP calls answer the whole
        list at once: the SDK has no paging)."""
        records = await self._refresh()
        return list(self._select(records, flt or DirectoryFilter(), None))

    async def get(self, code: str) -> DirectoryEntry | None:
        """One agency by code, connected or not; ``None`` if the hub knows neither."""
        records = await self._refresh()
        record = records.get(code)
        if record is None and self._registry.get(code) is None:
            return None
        return self._entry(code, record)


def _search_text(name: str, code: str) -> str:
    """The folded words a ``q`` is matched against, the name's and the code's groups, each
    preceded by a space (so a query word must begin a word, not sit inside one)."""
    return "".join(f" {w}" for w in (*words(name), *code.lower().split(".")))


# -- the VXP directory calls (hub/vxp, the SDK's AgencyServiceImp) -------------------------------


def vxp_agency(entry: DirectoryEntry) -> dict[str, object]:
    """The entry as ``getAgenciesList`` / ``getAgenciesListQD20`` return it
    (``/work/shared/vxp-sdk/PROTOCOL.md`` §4: the SDK reads ``code``, ``id``, ``mail``,
    ``name``, ``pid``, ``oldCode`` — QD20: ``code102`` instead of ``pid``/``oldCode`` — all
    optional, by name, so one shape serves both calls).

    ``code`` = ``id`` = the OrganId (the code documents are addressed to); ``pid`` = the
    parent's code (``""`` at level 1); ``code102`` = the code recorded for QCVN 102 exchanges,
    else the OrganId itself; ``oldCode`` = the code before Decision 20/2020 if recorded,
    else ``""``; ``mail`` = ``""`` (the hub keeps no mail addresses).
    """
    return {
        "id": entry.code,
        "code": entry.code,
        "name": entry.name,
        "pid": entry.parent or "",
        "code102": entry.code102 or entry.code,
        "oldCode": entry.old_code or "",
        "mail": "",
    }


def vxp_sync_unit(entry: DirectoryEntry) -> dict[str, object]:
    """The entry as ``getSynchronizeUnit`` returns it: :func:`vxp_agency` plus ``version``
    (the import revision that last changed it, 0 for a connected agency never imported),
    ``centerCode`` (the connected agency that receives for it: itself when connected, its
    representative otherwise, ``""`` when nobody does), ``deleted`` (always false: the hub
    never deletes entries), ``modifyDate`` (ISO 8601 UTC of that change, ``""`` if none) and
    ``isAgency`` (connected: it has a system of its own)."""
    center = entry.code if entry.connected else (entry.represented_by or "")
    return {
        **vxp_agency(entry),
        "version": entry.revision,
        "centerCode": center,
        "deleted": False,
        "modifyDate": entry.updated_at.isoformat() if entry.updated_at else "",
        "isAgency": entry.connected,
    }


VXP_DIRECTORY_CALLS = ("getAgenciesList", "getAgenciesListQD20", "getSynchronizeUnit")


async def vxp_directory(
    directory: Directory, call: str, *, level: str = "", connected: bool | None = None
) -> list[dict[str, object]]:
    """The ``data`` array of a VXP directory call (one of :data:`VXP_DIRECTORY_CALLS`), from
    the same entries as ``GET /v1/agencies``: :func:`vxp_sync_unit` for
    ``getSynchronizeUnit``, :func:`vxp_agency` otherwise. ``level``: the ``level`` header of
    ``getAgenciesListQD20`` (``"1"``..``"4"`` filters, anything else lists every level);
    ``connected``: as :class:`DirectoryFilter` (``True``: connected agencies only)."""
    if call not in VXP_DIRECTORY_CALLS:
        raise ValueError(f"not a VXP directory call: {call!r}")
    depth = int(level) if level in ("1", "2", "3", "4") else None
    entries = await directory.all(DirectoryFilter(level=depth, connected=connected))
    shape = vxp_sync_unit if call == "getSynchronizeUnit" else vxp_agency
    return [shape(e) for e in entries]
