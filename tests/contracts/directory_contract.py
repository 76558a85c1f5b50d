"""The agency directory in the store (issue 11, migration 0013), for every backend.

A subclass provides ``store_factory`` (a new, unopened store over the same storage each call,
as for :class:`tests.contracts.store_contract.StoreContract`). Covers the store methods
(``directory_records``, ``directory_revision``, ``put_directory_records``) and the
:class:`hub.directory.Directory` service and ``hub agency import`` over them.
"""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from hub.config import AgencyConfig
from hub.directory import Directory, DirectoryFilter, vxp_agency, vxp_directory
from hub.directory_import import import_directory
from hub.errors import DirectoryInvalid
from hub.models import DirectoryRecord
from hub.registry import Registry
from hub.store.abc import Store
from tests.contracts.store_contract import OpenStore, StoreFixtures

H29 = "000.00.00.H29"  # Hà Nội People's Committee (connected in these tests)
H29_TC = "000.00.13.H29"  # a department of Hà Nội (a directory entry)
H29_XD = "000.00.14.H29"
H29_TC_PHONG = "001.00.13.H29"  # a unit under that department
H41_TC = "000.00.13.H41"  # Nghệ An's department (Nghệ An not connected)
H41 = "000.00.00.H41"

T1 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)

SO_TAI_CHINH = "Sở Tài chính thành phố Hà Nội"
SO_XAY_DUNG = "Sở Xây dựng thành phố Hà Nội"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def rec(code: str, name: str, parent: str | None = None, **kw: str | None) -> DirectoryRecord:
    return DirectoryRecord(code=code, name=name, parent=parent, **kw)  # type: ignore[arg-type]


def registry() -> Registry:
    return Registry(
        {
            H29: AgencyConfig(
                organ_id=H29,
                name="UBND thành phố Hà Nội",
                represents="descendants",
                token_sha256=("ab" * 32,),
            )
        }
    )


class DirectoryContract(StoreFixtures):
    """Abstract tests; a subclass supplies ``store_factory``."""

    # -- the store methods -------------------------------------------------------------------

    async def test_empty_directory(self, store: Store) -> None:
        assert await store.directory_records() == []
        assert await store.directory_revision() == 0
        assert await store.put_directory_records([], T1) == (0, 0)

    async def test_entries_round_trip_byte_exact(self, store: Store, open_store: OpenStore) -> None:
        records = [
            rec(H29_TC, SO_TAI_CHINH, H29, code102=H29_TC, old_code="HN-STC"),
            rec(H41_TC, "Sở Tài chính tỉnh Nghệ An", H41),
            rec(H41, "Ủy ban nhân dân tỉnh Nghệ An"),  # level 1: no parent
            rec(H29_XD, nfd(SO_XAY_DUNG), H29),  # the store keeps what it is given
        ]
        assert await store.put_directory_records(records, T1) == (1, 4)
        other = await open_store()  # another process over the same storage
        got = {r.code: r for r in await other.directory_records()}
        assert [r.code for r in await other.directory_records()] == sorted(got)
        assert got[H29_TC].name == SO_TAI_CHINH
        assert got[H29_TC].name.encode() == SO_TAI_CHINH.encode()
        assert got[H29_XD].name == nfd(SO_XAY_DUNG)
        assert (got[H29_TC].parent, got[H29_TC].code102, got[H29_TC].old_code) == (
            H29,
            H29_TC,
            "HN-STC",
        )
        assert (got[H41].parent, got[H41].code102, got[H41].old_code) == (None, None, None)
        for r in got.values():
            assert r.revision == 1
            assert r.updated_at == T1
            assert r.updated_at is not None and r.updated_at.utcoffset() == timedelta(0)
        assert await other.directory_revision() == 1

    async def test_same_entries_again_change_nothing(self, store: Store) -> None:
        records = [rec(H29_TC, SO_TAI_CHINH, H29), rec(H29_XD, SO_XAY_DUNG, H29)]
        assert await store.put_directory_records(records, T1) == (1, 2)
        assert await store.put_directory_records(records, T2) == (1, 0)
        assert await store.directory_revision() == 1
        assert all(r.updated_at == T1 for r in await store.directory_records())

    async def test_changed_entries_take_the_next_revision_and_nothing_is_deleted(
        self, store: Store
    ) -> None:
        await store.put_directory_records(
            [rec(H29_TC, SO_TAI_CHINH, H29), rec(H29_XD, SO_XAY_DUNG, H29)], T1
        )
        renamed = rec(H29_TC, "Sở Tài chính Hà Nội", H29, code102=H29_TC)
        added = rec(H29_TC_PHONG, "Phòng Quản lý giá", H29_TC)
        assert await store.put_directory_records([renamed, added], T2) == (2, 2)
        got = {r.code: r for r in await store.directory_records()}
        assert set(got) == {H29_TC, H29_XD, H29_TC_PHONG}  # H29_XD kept though not given
        assert (got[H29_TC].name, got[H29_TC].code102, got[H29_TC].revision) == (
            "Sở Tài chính Hà Nội",
            H29_TC,
            2,
        )
        assert got[H29_TC].updated_at == T2
        assert (got[H29_XD].revision, got[H29_XD].updated_at) == (1, T1)
        # a field set back to None is a change too
        assert await store.put_directory_records([rec(H29_TC, renamed.name, H29)], T2) == (3, 1)
        assert (await store.directory_records())[0].code102 is None

    async def test_concurrent_imports_take_distinct_revisions(self, open_store: OpenStore) -> None:
        a, b = await open_store(), await open_store()
        results = await asyncio.gather(
            a.put_directory_records([rec(H29_TC, SO_TAI_CHINH, H29)], T1),
            b.put_directory_records([rec(H29_XD, SO_XAY_DUNG, H29)], T1),
        )
        assert sorted(r[0] for r in results) == [1, 2]
        assert {r.revision for r in await a.directory_records()} == {1, 2}

    # -- the directory service over the store --------------------------------------------------

    async def test_directory_merges_registry_and_entries(self, store: Store) -> None:
        reg = registry()
        await store.put_directory_records(
            [
                rec(H29, "Ủy ban nhân dân thành phố Hà Nội", code102=H29, old_code="HN"),
                rec(H29_TC, SO_TAI_CHINH, H29),
                rec(H41_TC, "Sở Tài chính tỉnh Nghệ An", H41),
                rec(H41, "Ủy ban nhân dân tỉnh Nghệ An"),
            ],
            T1,
        )
        directory = Directory(store, reg)
        everything = await directory.all()
        # directory order: a province's body first, then its units; provinces by code
        assert [e.code for e in everything] == [H29, H29_TC, H41, H41_TC]
        h29, tc, _, h41_tc = everything
        assert (h29.connected, h29.enabled, h29.name) == (True, True, "UBND thành phố Hà Nội")
        assert (h29.code102, h29.old_code, h29.delivery) == (H29, "HN", "pull")
        assert (tc.connected, tc.represented_by, tc.parent, tc.level) == (False, H29, H29, 2)
        assert h41_tc.represented_by is None  # Nghệ An is not connected: refused
        assert await directory.get("000.00.99.H29") is None
        found = await directory.get(H29_TC)
        assert found is not None and found.name == SO_TAI_CHINH

        only = await directory.all(DirectoryFilter(connected=False, q="so tai chinh ha noi"))
        assert [e.code for e in only] == [H29_TC]
        assert [e.code for e in await directory.all(DirectoryFilter(parent=H41))] == [H41_TC]
        assert [e.code for e in await directory.all(DirectoryFilter(level=1))] == [H29, H41]

    async def test_pages_cover_everything_once(self, store: Store) -> None:
        await store.put_directory_records(
            [rec(f"000.00.{n:02d}.H29", f"Sở số {n}", H29) for n in range(1, 26)], T1
        )
        directory = Directory(store, registry())
        seen: list[str] = []
        cursor = None
        while True:
            page = await directory.entries(cursor=cursor, limit=7)
            seen.extend(e.code for e in page.items)
            if page.next is None:
                break
            cursor = page.next
        assert seen == [H29] + [f"000.00.{n:02d}.H29" for n in range(1, 26)]

    async def test_an_import_in_another_process_shows_on_the_next_call(
        self, open_store: OpenStore
    ) -> None:
        serving, importing = await open_store(), await open_store()
        directory = Directory(serving, registry())
        assert [e.code for e in await directory.all()] == [H29]
        plan = await import_directory(
            importing,
            registry(),
            f"code,name,parent\n{H29_TC},{SO_TAI_CHINH},{H29}\n".encode(),
            "csv",
            at=T1,
        )
        assert (plan.added, plan.revision, plan.written) == (1, 1, 1)
        assert [e.code for e in await directory.all()] == [H29, H29_TC]

    async def test_import_dry_run_writes_nothing_and_refusals_write_nothing(
        self, store: Store
    ) -> None:
        data = f"code,name\n{H29_TC},{SO_TAI_CHINH}\n".encode()
        plan = await import_directory(store, registry(), data, "csv", at=T1, dry_run=True)
        assert (plan.added, plan.revision) == (1, None)
        assert await store.directory_records() == []
        bad = f"code,name\n{H29_TC},{SO_TAI_CHINH}\n000.00.14,Sở lỗi\n".encode()
        with pytest.raises(DirectoryInvalid):
            await import_directory(store, registry(), bad, "csv", at=T1)
        assert await store.directory_records() == []
        # and the good file, twice: the second run changes nothing
        first = await import_directory(store, registry(), data, "csv", at=T1)
        again = await import_directory(store, registry(), data, "csv", at=T2)
        assert (first.written, again.written, again.unchanged) == (1, 0, 1)
        assert again.revision == first.revision == 1

    async def test_vxp_calls_list_the_same_agencies_as_the_api(self, store: Store) -> None:
        await store.put_directory_records(
            [rec(H29_TC, SO_TAI_CHINH, H29, old_code="STC"), rec(H29_TC_PHONG, "Phòng", H29_TC)],
            T1,
        )
        directory = Directory(store, registry())
        listed = [e.code for e in (await directory.entries(limit=1000)).items]
        plain = await vxp_directory(directory, "getAgenciesList")
        assert [a["code"] for a in plain] == listed == [H29, H29_TC, H29_TC_PHONG]
        assert plain[1] == vxp_agency((await directory.all())[1])
        assert (plain[1]["pid"], plain[1]["oldCode"], plain[0]["pid"]) == (H29, "STC", "")
        qd20 = await vxp_directory(directory, "getAgenciesListQD20", level="2")
        assert [a["code102"] for a in qd20] == [H29_TC]
        sync = await vxp_directory(directory, "getSynchronizeUnit")
        assert [(a["code"], a["centerCode"], a["isAgency"], a["version"]) for a in sync] == [
            (H29, H29, True, 0),
            (H29_TC, H29, False, 1),
            (H29_TC_PHONG, H29, False, 1),
        ]
        connected = await vxp_directory(directory, "getAgenciesList", connected=True)
        assert [a["code"] for a in connected] == [H29]
        with pytest.raises(ValueError, match="not a VXP directory call"):
            await vxp_directory(directory, "registerAgency")
