"""Vietnamese text over HTTP (issue 10), on both store backends.

* A status naming the NFC form of a DocumentId sent in NFD (and the other way round) moves the
  document's state — before, it was accepted and silently changed nothing.
* A new document reusing a DocumentId of the same sender in the other normal form, with other
  bytes, is refused 409 ``package.conflict``.
* ``/v1/inbox`` and ``/v1/outbox`` take ``?q=``: Subject words with or without diacritics, the
  caller's own packages only, paging by cursor as without ``q``; with encryption at rest on too.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hub.client import HubClient, HubProblem
from hub.demo.factory import Signer, document, status
from hub.edxml import Organ
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory
from tests.polling import until
from tests.store.pg_fixtures import pg_dsn, pg_schema

__all__ = ["pg_dsn", "pg_schema"]  # fixtures used through request.getfixturevalue

G22, H41, H29 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H29"
DOC_ID = f"{G22},2026/03/02,12/QĐ-Bộ Tư pháp"
QUYET_DINH = "Quyết định về việc ban hành Quy chế phối hợp trong công tác văn thư"
CONG_VAN = "Công văn đôn đốc triển khai dịch vụ công trực tuyến toàn trình"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _enable_encryption(config_dir: Any) -> None:
    key_file = config_dir / "storage-keys.toml"
    key = base64.b64encode(bytes(range(32))).decode()
    key_file.write_text(f'current = "2026-03"\n[keys]\n"2026-03" = "{key}"\n')
    key_file.chmod(0o600)
    with (config_dir / "hub.toml").open("a") as fh:
        fh.write('\n[storage]\nencryption_key_file = "storage-keys.toml"\n')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {
        "store": "postgresql",
        "store_url": request.getfixturevalue("pg_dsn"),
        "store_schema": request.getfixturevalue("pg_schema"),
    }


@pytest.fixture
async def text_hub(
    make_workdir: WorkdirFactory, backend: dict[str, str]
) -> AsyncIterator[RunningHub]:
    async with start_hub(make_workdir(**backend)) as running:
        yield running


async def _states(client: HubClient, package_id: str) -> dict[str, str]:
    trace = await client.trace(package_id)
    return {s["recipient"]: s["state"] for s in trace["lifecycle"]["states"]}


@pytest.mark.parametrize("document_form", ["NFD", "NFC"])
async def test_status_in_the_other_normal_form_moves_the_document(
    text_hub: RunningHub, signers: Callable[[str], Signer], document_form: str
) -> None:
    sent_id = nfd(DOC_ID) if document_form == "NFD" else nfc(DOC_ID)
    answered_id = nfc(DOC_ID) if document_form == "NFD" else nfd(DOC_ID)
    assert sent_id != answered_id
    _, data = document(signers(G22), [Organ(organ_id=H41)], number=12, document_id=sent_id)
    assert sent_id.encode() in data  # the package really carries that form
    g22 = await text_hub.client(G22)
    sent = await g22.submit(data)
    assert (await _states(g22, sent.package_id))[H41] == "none"
    h41 = await text_hub.client(H41)
    for code in ("01", "03"):
        await h41.submit(
            status(signers(H41), document_author=G22, document_id=answered_id, code=code)
        )
    assert (await _states(g22, sent.package_id))[H41] == "03"
    # The statuses are found as answers to the document (trace), in either form.
    trace = await g22.trace(sent.package_id)
    assert [s["status_code"] for s in trace["statuses"]] == ["01", "03"], trace["statuses"]
    # The stored bytes are the sender's, byte for byte.
    assert await h41.fetch(sent.package_id) == data


async def test_new_document_reusing_a_document_id_in_the_other_form_conflicts(
    text_hub: RunningHub, signers: Callable[[str], Signer]
) -> None:
    g22 = await text_hub.client(G22)
    _, first = document(signers(G22), [Organ(organ_id=H41)], number=1, document_id=nfd(DOC_ID))
    accepted = await g22.submit(first)
    _, other = document(signers(G22), [Organ(organ_id=H41)], number=2, document_id=nfc(DOC_ID))
    with pytest.raises(HubProblem) as info:
        await g22.submit(other)
    assert (info.value.status, info.value.code) == (409, "package.conflict")
    assert accepted.package_id in str(info.value.body)
    # The same bytes again are still the same package (idempotent), not a conflict.
    assert (await g22.submit(first)).package_id == accepted.package_id


async def _all(client: HubClient, listing: str, q: str, limit: int = 100) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        if listing == "inbox":
            page = await client.inbox_page(cursor, limit, q=q)
        else:
            page = await client.outbox_page(cursor, limit, q=q)
        ids += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if not cursor:
            return ids


@pytest.mark.parametrize("encrypted", [False, True], ids=["clear", "encrypted"])
async def test_inbox_and_outbox_subject_search(
    make_workdir: WorkdirFactory,
    backend: dict[str, str],
    signers: Callable[[str], Signer],
    encrypted: bool,
) -> None:
    workdir = make_workdir(**backend)
    if encrypted:
        _enable_encryption(workdir.config_dir)
    async with start_hub(workdir) as hub:
        assert (hub.runtime.store.blob_cipher is not None) is encrypted
        g22, h41, h29 = (await hub.client(G22), await hub.client(H41), await hub.client(H29))
        quyet: list[str] = []
        # H41 gets three Quyết định (one of them in NFD) and two Công văn.
        subjects = [QUYET_DINH, nfd(QUYET_DINH), CONG_VAN, QUYET_DINH, CONG_VAN]
        for n, subject in enumerate(subjects):
            _, data = document(signers(G22), [Organ(organ_id=H41)], number=n + 1, subject=subject)
            sent = await g22.submit(data)
            if subject != CONG_VAN:
                quyet.append(sent.package_id)
        # H29's own document with the same Subject: never in G22's or H41's results.
        _, data = document(signers(H29), [Organ(organ_id=G22)], number=9, subject=QUYET_DINH)
        h29_sent = await h29.submit(data)

        async def delivered() -> bool:  # the inbox lists packages once they are available
            return len(await _all(h41, "inbox", "")) == 5 and len(await _all(g22, "inbox", "")) == 1

        await until(delivered, what="deliveries to the inboxes")
        for q in ("quyết định", "quyet dinh", "QUYẾT ĐỊNH", nfd("Quyết Định"), "van thu"):
            assert await _all(h41, "inbox", q) == quyet, q
            assert await _all(h41, "inbox", q, limit=1) == quyet, q  # paging with q
            assert await _all(g22, "outbox", q, limit=2) == quyet, q
            assert await _all(h29, "outbox", q) == [h29_sent.package_id]
            assert await _all(g22, "inbox", q) == [h29_sent.package_id]
        assert len(await _all(h41, "inbox", "cong van")) == 5  # "công tác văn thư" too
        assert len(await _all(h41, "inbox", "truc tuyen")) == 2
        assert await _all(h41, "inbox", "quyet dinh truc tuyen") == []  # every word
        assert await _all(h41, "inbox", "quye") == []  # whole words, not prefixes
        assert await _all(h29, "inbox", "quyet dinh") == []  # nothing was sent to H29
        page = await h41.inbox_page(q="quyet dinh")
        shown = page["items"][0]["subject"]
        assert shown == (None if encrypted else QUYET_DINH)
        with pytest.raises(HubProblem) as info:
            await h41.inbox_page(q=" ".join(f"w{i}" for i in range(17)))
        assert info.value.status == 400
