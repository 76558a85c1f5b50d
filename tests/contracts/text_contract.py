"""Vietnamese text in the store (issue 10), for every :class:`hub.store.Store` backend.

Keys (DocumentId, ResponseFor/DocumentId) compare in NFC; Subject is kept as sent and found
by its folded words in the inbox, the outbox and the dashboard search — with encryption at
rest off (folded words indexed) and on (only keyed hashes of them indexed).

A subclass provides ``store_factory`` (a new, unopened store over the same storage each call)
and ``raw_subject`` (what the backend row holds: ``subject``, ``subject_terms``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from hub.models import DeliveryState, Event, NewPackage, PackageKind
from hub.storage_crypto import BlobCipher
from hub.store.abc import Store
from hub.store.records import PackageQuery, PackageRow
from tests.contracts.store_contract import G22, H29, H41, new_package

RawSubject = Callable[[Store, str], Awaitable[tuple[str | None, str | None]]]

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def cipher(*, current: str = "k1") -> BlobCipher:
    return BlobCipher({"k1": KEY_1, "k2": KEY_2}, current)


# Real subjects (trích yếu) of the kind the exchange carries.
QUYET_DINH = "Quyết định về việc ban hành Quy chế phối hợp trong công tác văn thư"
CONG_VAN = "Công văn đôn đốc triển khai dịch vụ công trực tuyến toàn trình"
THONG_BAO = "Thông báo kết luận của Chủ tịch Ủy ban nhân dân tỉnh Đắk Lắk"
DOC_ID = "000.00.00.H41,2026/03/02,12/QĐ-Bộ Tư pháp"  # NFD differs: ộ, ư, á


class TextContract:
    """Abstract tests; ``encrypted`` runs each one with encryption at rest off and on."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        raise NotImplementedError

    @pytest.fixture
    def raw_subject(self) -> RawSubject:
        raise NotImplementedError

    @pytest.fixture(params=["clear", "encrypted"])
    def encrypted(self, request: pytest.FixtureRequest) -> bool:
        return bool(request.param == "encrypted")

    @pytest.fixture
    async def store(
        self, store_factory: Callable[[], Store], encrypted: bool
    ) -> AsyncIterator[Store]:
        store = store_factory()
        store.blob_cipher = cipher() if encrypted else None
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    async def _add(self, store: Store, *packages: NewPackage) -> None:
        await store.add_packages(list(packages))
        for p in packages:
            for r in p.recipients:
                await store.set_delivery_state(p.id, r, DeliveryState.AVAILABLE)

    # -- keys in NFC -----------------------------------------------------------------------------

    @pytest.mark.parametrize("stored_form", ["NFC", "NFD"])
    async def test_find_document_and_related_statuses_compare_in_nfc(
        self, store: Store, stored_form: str
    ) -> None:
        stored = DOC_ID if stored_form == "NFC" else nfd(DOC_ID)
        asked = nfd(DOC_ID) if stored_form == "NFC" else DOC_ID
        assert stored != asked
        document = new_package(sender=H41, recipients=(G22,), document_id=stored)
        answer = new_package(
            sender=G22,
            recipients=(H41,),
            kind=PackageKind.STATUS,
            document_id=asked,
            business_doc_type=None,
            status_code="01",
        )
        await store.add_packages([document, answer])
        found = await store.find_document(H41, asked, 0)
        assert found is not None and found.id == document.id
        assert found.document_id == DOC_ID  # the key is kept in NFC
        assert [r.id for r in await store.related_statuses(H41, stored)] == [answer.id]
        assert [r.id for r in await store.related_statuses(H41, asked)] == [answer.id]

    async def test_dashboard_document_id_search_compares_in_nfc(self, store: Store) -> None:
        document = new_package(sender=H41, recipients=(G22,), document_id=nfd(DOC_ID))
        await store.add_packages([document])
        for asked in (DOC_ID, nfd(DOC_ID)):
            listing = await store.dashboard().search_packages(PackageQuery(document_id=asked))
            assert [r.package.id for r in listing.rows if isinstance(r, PackageRow)] == [
                document.id
            ]

    # -- Subject -----------------------------------------------------------------------------

    async def test_subject_round_trips_or_is_not_kept_when_encrypted(
        self, store: Store, encrypted: bool, raw_subject: RawSubject
    ) -> None:
        p = replace(new_package(), subject=nfd(THONG_BAO))
        await store.add_packages([p])
        record = await store.get_package(p.id)
        assert record is not None
        subject, terms = await raw_subject(store, p.id)
        if encrypted:
            assert record.subject is None and subject is None
            assert terms is not None
            for word in ("thong", "bao", "dak", "lak", "Thông", "Đắk"):
                assert word not in terms  # neither the text nor its folded words
            # 14 distinct words, each one 128-bit keyed hash (32 hex digits) between spaces.
            tokens = terms.split()
            assert len(tokens) == 14 and all(len(t) == 32 for t in tokens)
        else:
            assert record.subject == nfd(THONG_BAO)  # as sent, byte for byte (NFD stays NFD)
            assert terms == " thong bao ket luan cua chu tich uy ban nhan dan tinh dak lak "

    @pytest.mark.parametrize(
        "q",
        [
            "quyết định",
            "quyet dinh",
            "QUYẾT ĐỊNH",
            "Quyet Dinh",
            nfd("quyết định"),
            "định quyết",  # order does not matter
            "văn thư",
            "van thu quy che",
        ],
    )
    async def test_inbox_finds_subject_with_and_without_diacritics(
        self, store: Store, q: str
    ) -> None:
        hit = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        miss = replace(new_package(sender=H41, recipients=(G22,)), subject=CONG_VAN)
        no_subject = new_package(sender=H41, recipients=(G22,))
        await self._add(store, hit, miss, no_subject)
        page = await store.inbox(G22, q=q)
        assert [i.package.id for i in page.items] == [hit.id], q

    async def test_subject_from_nfd_sender_found_by_nfc_query(self, store: Store) -> None:
        p = replace(new_package(sender=H41, recipients=(G22,)), subject=nfd(QUYET_DINH))
        await self._add(store, p)
        assert [i.package.id for i in (await store.inbox(G22, q="Quyết định")).items] == [p.id]

    async def test_every_word_must_match_a_whole_word(self, store: Store) -> None:
        p = replace(new_package(sender=H41, recipients=(G22,)), subject=CONG_VAN)
        await self._add(store, p)
        found = [i.package.id for i in (await store.inbox(G22, q="dich vu cong")).items]
        assert found == [p.id]
        for q in ("dich vu hanh chinh", "trien khai quyet", "dic", "truc tuyen x", "uyen"):
            assert (await store.inbox(G22, q=q)).items == (), q  # whole words, all of them

    async def test_query_without_words_does_not_filter(self, store: Store) -> None:
        a = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        b = new_package(sender=H41, recipients=(G22,))
        await self._add(store, a, b)
        for q in (None, "", "  — ; "):
            assert [i.package.id for i in (await store.inbox(G22, q=q)).items] == [a.id, b.id]

    async def test_too_many_words_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="at most"):
            await store.inbox(G22, q=" ".join(f"w{i}" for i in range(17)))

    async def test_only_the_callers_packages(self, store: Store) -> None:
        to_g22 = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        to_h29 = replace(new_package(sender=H41, recipients=(H29,)), subject=QUYET_DINH)
        from_g22 = replace(new_package(sender=G22, recipients=(H29,)), subject=QUYET_DINH)
        await self._add(store, to_g22, to_h29, from_g22)
        assert [i.package.id for i in (await store.inbox(G22, q="quyet dinh")).items] == [to_g22.id]
        outbox = await store.outbox(G22, q="quyet dinh")
        assert [p.id for p, _ in outbox.items] == [from_g22.id]
        outbox = await store.outbox(H41, q="quyết định")
        assert [p.id for p, _ in outbox.items] == [to_g22.id, to_h29.id]
        assert (await store.outbox(H41, q="dich vu")).items == ()

    @pytest.mark.parametrize("listing", ["inbox", "outbox"])
    async def test_paging_with_q_is_stable_and_complete(self, store: Store, listing: str) -> None:
        packages = [
            replace(
                new_package(sender=H41, recipients=(G22,)),
                subject=QUYET_DINH if n % 3 else CONG_VAN,
            )
            for n in range(11)
        ]
        await self._add(store, *packages)
        expected = [p.id for n, p in enumerate(packages) if n % 3]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            if listing == "inbox":
                ipage = await store.inbox(G22, cursor=cursor, limit=2, q="quyet dinh")
                seen += [i.package.id for i in ipage.items]
                cursor = ipage.next
            else:
                opage = await store.outbox(H41, cursor=cursor, limit=2, q="quyet dinh")
                seen += [p.id for p, _ in opage.items]
                cursor = opage.next
            if cursor is None:
                break
        assert seen == expected

    async def test_dashboard_subject_search(self, store: Store) -> None:
        hit = replace(new_package(sender=H41, recipients=(G22,)), subject=THONG_BAO)
        other = replace(new_package(sender=G22, recipients=(H29,)), subject=CONG_VAN)
        await self._add(store, hit, other)
        dash = store.dashboard()
        for q in ("dak lak", "Đắk Lắk", nfd("ĐẮK LẮK"), "chu tich"):
            listing = await dash.search_packages(PackageQuery(subject=q))
            assert [r.package.id for r in listing.rows if isinstance(r, PackageRow)] == [hit.id]
        # Combined with the other filters (AND), newest first.
        listing = await dash.search_packages(PackageQuery(subject="cong", organ_id=G22))
        assert [r.package.id for r in listing.rows if isinstance(r, PackageRow)] == [other.id]
        listing = await dash.search_packages(PackageQuery(subject="cong", organ_id=H41))
        assert listing.rows == ()

    async def test_purging_the_bytes_drops_the_subject_and_its_words(
        self, store: Store, raw_subject: RawSubject
    ) -> None:
        p = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        await self._add(store, p)
        event = Event(package_id=p.id, kind="purged", at=p.accepted_at, detail={})
        assert await store.audit().purge_package(p.id, event, unacked=True)
        assert await raw_subject(store, p.id) == (None, None)
        assert (await store.inbox(G22, q="quyet dinh")).items == ()


class EncryptedIndexContract:
    """What only the keyed index does: key rotation keeps old rows findable."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        raise NotImplementedError

    async def test_rows_indexed_before_a_key_rotation_are_still_found(
        self, store_factory: Callable[[], Store]
    ) -> None:
        old = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        new = replace(new_package(sender=H41, recipients=(G22,)), subject=QUYET_DINH)
        store = store_factory()
        store.blob_cipher = cipher(current="k1")
        async with store:
            await store.add_packages([old])
        store = store_factory()
        store.blob_cipher = cipher(current="k2")  # rotated; k1 still configured
        async with store:
            await store.add_packages([new])
            page = await store.outbox(H41, q="quyết định")
            assert [p.id for p, _ in page.items] == [old.id, new.id]
        # Without the key, the hashes match nothing: the index is useless to a thief.
        store = store_factory()
        store.blob_cipher = BlobCipher({"other": bytes(32)}, "other")
        async with store:
            assert (await store.outbox(H41, q="quyết định")).items == ()
        # And encryption off later: the clear query does not match hashed rows either.
        store = store_factory()
        async with store:
            assert (await store.outbox(H41, q="quyet dinh")).items == ()
