"""The adapter contract suite: every adapter's tests subclass :class:`AdapterContract`.

The suite checks what the connector relies on and what "nothing lost, nothing applied twice,
Vietnamese byte-exact" means at the edge:

* every valid native record translates to a schema-valid package that signs and verifies,
  and translates back to the same record (native → package → native);
* non-ASCII text reaches the package as the exact UTF-8 bytes it had (no normalisation);
* bad native input raises :class:`~hub.adapter.NativeInvalid` naming the field;
* ``deliver`` of the same hub package twice applies it once;
* ``poll`` from a stored cursor after a restart returns nothing already returned;
* an adapter with the optional ``sent`` hook takes the same receipt twice without failing.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hub.adapter import (
    Adapter,
    DeliverRequest,
    FromPackageRequest,
    NativeInvalid,
    NativeRecord,
    PollRequest,
    SentRequest,
    StopRequest,
    ToPackageRequest,
    sent_hook,
)
from hub.testing.helpers import sign_and_verify, test_identity

__all__ = ["AdapterContract"]

CREATED_AT = datetime(2024, 3, 15, 1, 30, tzinfo=UTC)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _xml_text(s: str) -> bytes:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")


class AdapterContract:
    """Subclass, implement the four hooks, and every test here runs against your adapter."""

    # Marked explicitly so the suite runs under pytest-asyncio's strict mode too (a new
    # adapter's project may not set asyncio_mode = "auto").
    pytestmark = pytest.mark.asyncio

    sender: str = "000.00.00.H29"
    recipient: str = "000.00.00.H41"

    # -- hooks ---------------------------------------------------------------------------------

    async def open_adapter(self, data_dir: Path) -> Adapter:
        """A *started* adapter. Called twice in one test with the same ``data_dir`` to simulate
        a restart: the second adapter must see the same external system."""
        raise NotImplementedError

    def valid_records(self) -> Sequence[NativeRecord]:
        """Native records that must translate; at least one with non-ASCII text."""
        raise NotImplementedError

    def invalid_records(self) -> Sequence[tuple[NativeRecord, str]]:
        """(bad record, the field ``NativeInvalid.field`` must name)."""
        raise NotImplementedError

    async def add_native(self, adapter: Adapter, record: NativeRecord) -> None:
        """Make the external system hold ``record`` as new, so that ``poll`` finds it."""
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------------

    @pytest_asyncio.fixture
    async def opened(self, tmp_path: Path) -> AsyncIterator[list[Adapter]]:
        """Adapters opened by a test, stopped afterwards."""
        adapters: list[Adapter] = []
        yield adapters
        for adapter in adapters:
            await adapter.stop(StopRequest())

    async def _open(self, opened: list[Adapter], data_dir: Path) -> Adapter:
        adapter = await self.open_adapter(data_dir)
        opened.append(adapter)
        return adapter

    def _package(self, adapter: Adapter, record: NativeRecord) -> bytes:
        return adapter.to_package(
            ToPackageRequest(
                record=record,
                sender=self.sender,
                package_id=uuid.uuid5(uuid.NAMESPACE_URL, record.key + record.version).hex,
                created_at=CREATED_AT,
                default_recipients=(self.recipient,),
            )
        ).data

    def _back(self, adapter: Adapter, data: bytes, package_id: str) -> NativeRecord:
        parsed = sign_and_verify(data, test_identity(self.sender))
        return adapter.from_package(
            FromPackageRequest(
                package_id=package_id,
                sender=parsed.sender,
                kind=parsed.kind,
                model=parsed.model,
                data=data,
            )
        )

    # -- the contract --------------------------------------------------------------------------

    async def test_round_trip(self, tmp_path: Path, opened: list[Adapter]) -> None:
        adapter = await self._open(opened, tmp_path)
        for record in self.valid_records():
            data = self._package(adapter, record)
            back = self._back(adapter, data, "p-" + record.key)
            assert back.kind == record.kind
            assert dict(back.fields) == dict(record.fields), record.key

    async def test_translation_is_deterministic(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        adapter = await self._open(opened, tmp_path)
        for record in self.valid_records():
            assert self._package(adapter, record) == self._package(adapter, record)

    async def test_vietnamese_text_is_byte_exact(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        adapter = await self._open(opened, tmp_path)
        seen_non_ascii = False
        for record in self.valid_records():
            data = self._package(adapter, record)
            for text in _strings(record.fields):
                if not text.isascii():
                    seen_non_ascii = True
                    assert _xml_text(text) in data, f"{text!r} not byte-exact in the package"
            back = self._back(adapter, data, "p-" + record.key)
            for a, b in zip(_strings(record.fields), _strings(back.fields), strict=True):
                assert a.encode() == b.encode()
        assert seen_non_ascii, "valid_records() must include Vietnamese text"

    async def test_decomposed_text_is_not_normalised(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        adapter = await self._open(opened, tmp_path)
        record = self.valid_records()[0]
        nfd = _map_strings(record.fields, lambda s: unicodedata.normalize("NFD", s))
        decomposed = NativeRecord(record.key, record.version + "-nfd", record.kind, nfd)
        back = self._back(adapter, self._package(adapter, decomposed), "p-nfd")
        assert dict(back.fields) == nfd

    async def test_bad_input_names_the_field(self, tmp_path: Path, opened: list[Adapter]) -> None:
        adapter = await self._open(opened, tmp_path)
        cases = self.invalid_records()
        assert cases, "invalid_records() must list at least one bad record"
        for record, field in cases:
            with pytest.raises(NativeInvalid) as info:
                self._package(adapter, record)
            assert info.value.field == field, str(info.value)

    async def test_deliver_is_idempotent(self, tmp_path: Path, opened: list[Adapter]) -> None:
        adapter = await self._open(opened, tmp_path)
        record = self.valid_records()[0]
        package_id = uuid.uuid4().hex
        native = self._back(adapter, self._package(adapter, record), package_id)
        request = DeliverRequest(package_id=package_id, sender=self.sender, record=native)
        first = await adapter.deliver(request)
        again = await adapter.deliver(request)
        assert first.applied is True
        assert again.applied is False

    async def test_poll_after_restart_does_not_resend(
        self, tmp_path: Path, opened: list[Adapter]
    ) -> None:
        adapter = await self._open(opened, tmp_path)
        first_record = self.valid_records()[0]
        await self.add_native(adapter, first_record)
        result = await adapter.poll(PollRequest(cursor=None))
        keys = {(r.key, r.version) for r in result.records}
        assert keys, "poll found nothing after add_native"
        await adapter.stop(StopRequest())
        opened.remove(adapter)
        restarted = await self._open(opened, tmp_path)
        again = await restarted.poll(PollRequest(cursor=result.cursor))
        assert not keys & {(r.key, r.version) for r in again.records}

    async def test_sent_hook_is_idempotent(self, tmp_path: Path, opened: list[Adapter]) -> None:
        adapter = await self._open(opened, tmp_path)
        hook = sent_hook(adapter)
        if hook is None:
            pytest.skip("the adapter has no sent() hook (it is optional)")
        await self.add_native(adapter, self.valid_records()[0])
        polled = (await adapter.poll(PollRequest(cursor=None))).records[0]
        receipt = b"<Receipt xmlns='urn:vnhub:receipt:1'/>"
        request = SentRequest(
            record_key=polled.key,
            version=polled.version,
            kind=polled.kind,
            package_id=uuid.uuid4().hex,
            sender_package_id=uuid.uuid4().hex,
            receipt=receipt,
            receipt_sha256=hashlib.sha256(receipt).hexdigest(),
            accepted_at=CREATED_AT,
        )
        await hook(request)
        await hook(request)  # the connector may call again after a crash


def _map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value
