"""Personal data (Decree 13/2023/NĐ-CP): a real dossier exchange carrying a citizen's CCCD,
CMND, phone and e-mail leaves none of them in any log record; the hub's log filter redacts
them from messages, extra fields and exception texts; the retention purge runs on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.client import HubProblem
from hub.demo.factory import Signer
from hub.demo.workdir import DEFAULT_AGENCIES, Workdir
from hub.dossier import DossierHeader, DossierPackage, build_dossier
from hub.dossier.sign import sign_dossier
from hub.logs import JsonFormatter, add_hub_filters, redact
from hub.models import DeliveryState
from hub.testing import sample_ho_so
from tests.api.conftest import RunningHub, start_hub
from tests.conftest import WorkdirFactory

H29, H41 = "000.00.00.H29", "000.00.00.H41"
CCCD, CMND = "001203004567", "031456789"
PHONE, EMAIL = "0912 345 678", "nguyen.van.an@example.vn"
SECRETS = (CCCD, CMND, PHONE, "0912345678", EMAIL)


class _Raw(logging.Handler):
    """Every record as the hub produced it, before any filter: message and extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text + " " + json.dumps(vars(record), default=str, ensure_ascii=False))


@pytest.fixture
def dossier_workdir(make_workdir: WorkdirFactory) -> Workdir:
    """The default agencies, H29 (a provincial one-stop system) allowed to send dossiers."""
    return make_workdir(
        tuple(
            dataclasses.replace(a, may_send=(*a.may_send, "dossier")) if a.organ_id == H29 else a
            for a in DEFAULT_AGENCIES
        )
    )


@pytest.fixture
def captured() -> Iterator[tuple[_Raw, io.StringIO]]:
    """A raw handler and the hub's own JSON handler (with its filters) on the root logger."""
    root = logging.getLogger()
    raw, out = _Raw(), io.StringIO()
    hub_handler = add_hub_filters(logging.StreamHandler(out))
    hub_handler.setFormatter(JsonFormatter())
    old_level = root.level
    root.addHandler(raw)  # first: it sees records before the hub handler's filter rewrites them
    root.addHandler(hub_handler)
    root.setLevel(logging.DEBUG)
    try:
        yield raw, out
    finally:
        root.removeHandler(raw)
        root.removeHandler(hub_handler)
        root.setLevel(old_level)


def _dossier(signer: Signer) -> bytes:
    ho_so = dataclasses.replace(
        sample_ho_so("PD-1"),
        chu_ho_so="Nguyễn Văn An",
        ma_doi_tuong=CCCD,
        so_dien_thoai=PHONE,
        email=EMAIL,
        ghi_chu=f"CMND cũ {CMND}",
    )
    header = DossierHeader(
        package_id="site-PD-1", from_=H29, to=(H41,), kind="dossier", created_at="20240315083000"
    )
    data = build_dossier(DossierPackage(header, ho_so=ho_so))
    return sign_dossier(data, signer.key, signer.certificate)


async def test_dossier_exchange_logs_no_personal_data(
    dossier_workdir: Workdir,
    signers: Callable[[str], Signer],
    captured: tuple[_Raw, io.StringIO],
) -> None:
    async with start_hub(dossier_workdir) as hub:
        await _exchange(hub, signers, captured)
    # Scanned once the hub has stopped: whatever its background tasks (dispatcher, relay)
    # logged after the requests is in the scan, however slow the machine.
    _assert_no_personal_data(captured)


async def _exchange(
    hub: RunningHub, signers: Callable[[str], Signer], captured: tuple[_Raw, io.StringIO]
) -> None:
    data = _dossier(signers(H29))
    assert all(s.encode() in data for s in (CCCD, CMND, EMAIL))
    sender = await hub.client(H29)
    sent = await sender.submit(data)
    receiver = await hub.client(H41)
    assert await receiver.fetch(sent.package_id) == data
    await receiver.ack(sent.package_id)
    await sender.trace(sent.package_id)
    # A refused copy too: refusal messages must not quote the content either.
    with pytest.raises(HubProblem) as refused:
        await sender.submit(data.replace(CCCD.encode(), b"001203004568"))
    assert 400 <= refused.value.status < 500, refused.value  # refused, not a crash
    _assert_no_personal_data(captured)


def _assert_no_personal_data(captured: tuple[_Raw, io.StringIO]) -> None:
    raw, out = captured
    assert raw.lines, "the exchange wrote no log record at all"
    for line in raw.lines:
        for secret in SECRETS:
            assert secret not in line, f"{secret!r} logged: {line[:300]}"
    for secret in SECRETS:
        assert secret not in out.getvalue()

    # The filter is the second line of defence: what a careless message would have leaked.
    log = logging.getLogger("hub.test")
    log.warning(
        "citizen %s phone %s", CCCD, PHONE, extra={"email": EMAIL, "fields": {"cmnd": CMND}}
    )
    try:
        raise ValueError(f"bad field {CCCD}")
    except ValueError:
        log.exception("adapter failed")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    warned = next(x for x in lines if x["logger"] == "hub.test" and "citizen" in x["message"])
    assert warned["message"] == "citizen [cccd] phone [phone]"
    assert warned["email"] == "[email]" and warned["fields"] == {"cmnd": "[cmnd]"}
    failed = next(x for x in lines if x["message"] == "adapter failed")
    assert "[cccd]" in failed["exception"] and CCCD not in failed["exception"]


def test_redaction_leaves_hub_identifiers_alone() -> None:
    kept = (
        "000.00.00.G22 1b4e28ba-2fa1-11d2-883f-0016d3cca427 "
        "3f2a9c1234567890abcdef1234567890aa 2026-03-02T01:30:00.123456Z size=1234 "
        "000.00.00.G22,2026/03/02,123456789/UBND 127.0.0.1:54321"
    )
    assert redact(kept) == kept
    assert redact(f"{CCCD} {CMND} +84 912.345.678 {EMAIL}") == "[cccd] [cmnd] [phone] [email]"


async def test_retention_purge_runs_on_schedule(
    dossier_workdir: Workdir, signers: Callable[[str], Signer]
) -> None:
    """``[retention] purge_interval``: the Runtime purges without anyone running the CLI,
    and the purge is the chained ``purged`` event."""
    workdir = dossier_workdir
    with (workdir.config_dir / "hub.toml").open("a") as fh:
        fh.write("\n[retention]\npackage_days = 1\npurge_interval = 0.2\n")
    data = _dossier(signers(H29))
    async with start_hub(workdir) as hub:
        sent = await (await hub.client(H29)).submit(data)
        await (await hub.client(H41)).ack(sent.package_id)
        # age the package: the purge compares acceptance time with the policy
        await _backdate(hub, sent.package_id, datetime.now(UTC) - timedelta(days=2))
        for _ in range(100):
            events = await hub.runtime.store.events_for(sent.package_id)
            if any(e.kind == "purged" for e in events):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the scheduled purge did not run")
        assert await hub.runtime.store.get_bytes(sent.package_id) in (b"", None)
        deliveries = await hub.runtime.store.deliveries_for(sent.package_id)
        assert all(d.state == DeliveryState.ACKED for d in deliveries)


async def _backdate(hub: RunningHub, package_id: str, at: datetime) -> None:
    import sqlite3

    from hub.sqlitedb import to_db_time

    path = hub.runtime.config.settings.sqlite_path
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE packages SET accepted_at = ? WHERE id = ?", (to_db_time(at), package_id)
        )
