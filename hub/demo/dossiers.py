"""The citizen-dossier flow of ``hub demo``: one-stop system → agency database → national portal.

Three simulated agency systems, each behind the **real** :class:`~hub.adapter.Connector` with
its agency's key, certificate and token from the demo's workdir, run as asyncio tasks against
the hub over HTTP:

* **Hà Nội's one-stop system** (iGate, :data:`PROVINCE` ``000.00.00.H29``,
  :mod:`adapters.igate.simulator`): officers register citizens' dossiers there; its connector
  sends each as a dossier package addressed to the handling department.
* **The handling department's database** (:data:`DEPARTMENT` ``000.00.12.H29``, ``sqldb``
  adapter, :mod:`adapters.sqldb.simulator`): the dossier lands in its ``hub_inbox``; the
  department's own software picks it up, accepts it (TrangThaiHoSo 2) or does not (3), and
  processes it (4 → 9 → 10), each step a row it inserts into ``hub_outbox`` in the same
  transaction as its business change. The connector sends each row once and the ``sent`` hook
  marks it with the hub's package id and verified receipt.
* **The national public-service portal** (DVCQG, :data:`PORTAL` ``000.00.01.G22``, ``dvcqg``
  adapter, :mod:`adapters.dvcqg.simulator`): ``routes.toml`` copies every dossier and
  progress package exchanged inside Hà Nội to it (:data:`DOSSIER_ROUTES`); its connector
  mirrors them with ``DongBoHoSoMC`` and ``CapNhatTienDoHoSoMC`` under Hà Nội's unit code.

Progress packages go back to the province (the department's connector names it as default
recipient) and are pushed into iGate's inbound API. The self-check reads every system's own
records — the simulators count duplicates — and the summary prints them as the "Dossiers" table.

The portal's OrganId: the portal is run by the Government Office (Văn phòng Chính phủ,
``000.00.00.G22``), so its connector acts for a level-2 unit under it, ``000.00.01.G22``. The
real portal has no code in the samples; any registered OrganId works, and a unit under G22
keeps ``under:000.00.00.G22`` rules meaningful.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from rich.table import Table

from adapters.dvcqg.mapping import fields_from_tien_do
from adapters.dvcqg.simulator import DvcqgSimulator
from adapters.igate import mapping as igate_mapping
from adapters.igate.simulator import IgateSimulator
from adapters.sqldb.simulator import AgencySoftware
from hub.adapter import stable_package_id
from hub.adapter.connector import Connector, CycleReport, load_connector_config
from hub.client import HubClient, HubProblem
from hub.demo.summary import Check
from hub.demo.workdir import AgencySpec, Workdir
from hub.dossier import VN_TZ, GiayToKetQua, HoSo, LePhi, TaiLieu, TienDo, format_dvc_time

__all__ = [
    "DEPARTMENT",
    "DOSSIER_AGENCIES",
    "DOSSIER_ROUTES",
    "PORTAL",
    "PROVINCE",
    "DossierFlow",
    "add_dossier_routes",
]

PROVINCE = "000.00.00.H29"  # UBND Thành phố Hà Nội: its one-stop system (iGate)
DEPARTMENT = "000.00.12.H29"  # the handling department (level 2 under Hà Nội)
PORTAL = "000.00.01.G22"  # the national portal, a unit under the Government Office

_KINDS = ("dossier", "dossier_progress")

#: The dossier flow's agencies (Hà Nội also keeps sending documents' kinds, as a province does).
DOSSIER_AGENCIES: tuple[AgencySpec, ...] = (
    AgencySpec(PROVINCE, "UBND Thành phố Hà Nội", may_send=("document", "status", *_KINDS)),
    AgencySpec(DEPARTMENT, "Sở Xây dựng Thành phố Hà Nội", may_send=_KINDS),
    AgencySpec(PORTAL, "Cổng Dịch vụ công quốc gia (Văn phòng Chính phủ)", may_send=_KINDS),
)

#: ``routes.toml`` rules: every dossier and progress package exchanged inside Hà Nội is copied
#: to the national portal (one rule per kind: a rule names one kind or ``*``).
DOSSIER_ROUTES = "".join(
    f"""
# Dossiers ({kind}) exchanged inside Hà Nội are mirrored to the national portal (DVCQG).
[[copy]]
name = "hanoi-{kind.replace("_", "-")}-to-dvcqg"
from = "under:{PROVINCE}"
to = "under:{PROVINCE}"
kind = "{kind}"
add = ["{PORTAL}"]
"""
    for kind in _KINDS
)

#: Procedures of the department (codes in the national catalogue's shape, Hà Nội's suffix).
PROCEDURES: tuple[tuple[str, str], ...] = (
    ("1.000494.000.00.00.H29", "Cấp giấy phép xây dựng đối với công trình nhà ở riêng lẻ"),
    ("1.009972.000.00.00.H29", "Cấp giấy phép xây dựng sửa chữa, cải tạo công trình"),
    ("1.009994.000.00.00.H29", "Điều chỉnh giấy phép xây dựng"),
    ("1.010013.000.00.00.H29", "Cấp chứng chỉ hành nghề hoạt động xây dựng hạng II, III"),
    ("1.002701.000.00.00.H29", "Gia hạn giấy phép xây dựng"),
)

CITIZENS: tuple[str, ...] = (
    "Nguyễn Thị Ánh Tuyết",
    "Trần Văn Đức",
    "Lê Hoàng Phúc",
    "Phạm Thị Thu Hường",
    "Hoàng Minh Quân",
    "Vũ Ngọc Ánh",
    "Đặng Quốc Bảo",
    "Bùi Thị Lan Phương",
    "Đỗ Trọng Nghĩa",
    "Ngô Thị Diệu Linh",
    "Dương Văn Khải",
    "Lý Thu Trang",
)
BUSINESSES: tuple[str, ...] = (
    "Công ty TNHH Xây dựng Thăng Long",
    "Công ty Cổ phần Kiến trúc Hồng Hà",
)
STREETS: tuple[str, ...] = (
    "phố Hàng Bạc, quận Hoàn Kiếm",
    "phố Kim Mã, quận Ba Đình",
    "đường Láng, quận Đống Đa",
    "phố Nguyễn Trãi, quận Thanh Xuân",
    "đường Nguyễn Văn Cừ, quận Long Biên",
)

#: What the department's software does at each state (content, department, officer, title).
STEPS: dict[str, tuple[str, str, str, str]] = {
    "2": ("Tiếp nhận hồ sơ, chuyển phòng chuyên môn thẩm định", "Bộ phận Một cửa",
          "Nguyễn Thu Hà", "Cán bộ tiếp nhận"),
    "3": ("Không tiếp nhận: thiếu bản vẽ thiết kế có chữ ký của chủ đầu tư", "Bộ phận Một cửa",
          "Nguyễn Thu Hà", "Cán bộ tiếp nhận"),
    "4": ("Thẩm định hồ sơ, kiểm tra hiện trạng công trình", "Phòng Quản lý hoạt động xây dựng",
          "Trần Minh Đức", "Chuyên viên"),
    "9": ("Đã xử lý xong: trình ký giấy phép", "Phòng Quản lý hoạt động xây dựng",
          "Phạm Quang Huy", "Phó Giám đốc Sở"),
    "10": ("Trả kết quả cho công dân tại Bộ phận Một cửa", "Bộ phận Một cửa",
           "Nguyễn Thu Hà", "Cán bộ trả kết quả"),
}  # fmt: skip

ACCEPTED_CHAIN = ("2", "4", "9", "10")
REFUSED_CHAIN = ("3",)

#: Rows of the "Dossiers" table: (stage, TrangThaiHoSo); "1" is the dossier itself.
STAGES: tuple[tuple[str, str], ...] = (
    ("submitted at iGate (dossier)", "1"),
    ("accepted", "2"),
    ("not accepted", "3"),
    ("processing", "4"),
    ("processed", "9"),
    ("result returned", "10"),
)

_TICK = 0.05  # seconds between the department software's rounds, and the connectors' polls
log = logging.getLogger("hub.demo.dossiers")


def add_dossier_routes(config_dir: Path) -> None:
    """Append :data:`DOSSIER_ROUTES` to the workdir's ``routes.toml`` (once)."""
    path = config_dir / "routes.toml"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if "hanoi-dossier-to-dvcqg" not in text:
        path.write_text(text + DOSSIER_ROUTES, encoding="utf-8")


@dataclass(frozen=True, slots=True)
class DossierPlan:
    """One citizen's dossier and the states the department will give it."""

    code: str
    ho_so: HoSo
    chain: tuple[str, ...]


def make_dossiers(count: int, seed: int) -> list[DossierPlan]:
    """``count`` dossiers, deterministic from ``seed``; about one in six is not accepted (at
    least one when there are five or more)."""
    rng = random.Random(seed)
    base = datetime(2024, 3, 15, 8, 0, tzinfo=VN_TZ)
    plans: list[DossierPlan] = []
    for i in range(1, count + 1):
        business = rng.random() < 0.15
        owner = rng.choice(BUSINESSES if business else CITIZENS)
        code_tthc, name_tthc = rng.choice(PROCEDURES)
        received = base + timedelta(minutes=7 * i)
        code = f"{DEPARTMENT}-240315-{i:04d}"
        refused = rng.random() < 0.17 or (count >= 5 and i == 3)
        ho_so = HoSo(
            ma_ho_so=code,
            ma_tthc=code_tthc,
            ten_tthc=name_tthc,
            ma_linh_vuc="G11",
            ten_linh_vuc="Hoạt động xây dựng",
            so_bien_nhan=f"BN-2024-{i:06d}",
            chu_ho_so=owner,
            loai_doi_tuong="2" if business else "1",
            ma_doi_tuong=f"0010{rng.randrange(10**8):08d}",
            so_dien_thoai=f"09{rng.randrange(10**8):08d}",
            dia_chi=f"Số {rng.randint(1, 199)}, {rng.choice(STREETS)}, Hà Nội",
            trich_yeu_ho_so=f"{name_tthc} — {owner}",
            ngay_tiep_nhan=format_dvc_time(received),
            ngay_hen_tra=format_dvc_time(received + timedelta(days=14)),
            trang_thai_ho_so="1",
            hinh_thuc="1",
            don_vi_xu_ly=DOSSIER_AGENCIES[1].name,
            tai_lieu_nop=(
                TaiLieu.from_bytes(
                    tep_dinh_kem_id="TL1",
                    ten_tep_dinh_kem="Đơn đề nghị.pdf",
                    content_type="application/pdf",
                    data=b"%PDF-1.4 " + owner.encode() + rng.randbytes(64),
                    ma_thanh_phan_ho_so="TP01",
                ),
            ),
            danh_sach_le_phi=(LePhi(ten_phi_le_phi="Lệ phí cấp giấy phép", gia="75000"),),
        )
        plans.append(DossierPlan(code, ho_so, REFUSED_CHAIN if refused else ACCEPTED_CHAIN))
    return plans


def progress_step(plan: DossierPlan, state: str, index: int) -> dict[str, Any]:
    """The department's record of one state (DVCQG names), as its software writes it."""
    content, department, officer, title = STEPS[state]
    received = datetime.strptime(plan.ho_so.ngay_tiep_nhan, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
    when = format_dvc_time(received + timedelta(days=index, hours=1))
    results: tuple[GiayToKetQua, ...] = ()
    if state == "10":
        number = plan.code.rsplit("-", 1)[1]
        results = (GiayToKetQua(giay_to_id="KQ1", ten_giay_to=f"Giấy phép số {number}/GPXD"),)
    return fields_from_tien_do(
        TienDo(
            ma_ho_so=plan.code,
            trang_thai_ho_so=state,
            ngay_xu_ly=when,
            noi_dung_xu_ly=content,
            don_vi_xu_ly=DOSSIER_AGENCIES[1].name,
            phong_ban_xu_ly=department,
            nguoi_xu_ly=officer,
            chuc_danh=title,
            ngay_hen_tra=plan.ho_so.ngay_hen_tra,
            ngay_tra=when if state in ("3", "10") else None,
            danh_sach_giay_to_ket_qua=results,
        )
    )


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def write_connector_config(
    path: Path,
    wd: Workdir,
    organ_id: str,
    base_url: str,
    adapter: str,
    settings: dict[str, object],
    default_recipients: tuple[str, ...] = (),
    tick: float = _TICK,
) -> Path:
    """A connector TOML as an operator would write it (``hub connector --config PATH``)."""
    agency = wd.agencies[organ_id]
    lines = [
        f"# Connector of {organ_id} (written by hub demo; its systems run inside the demo).",
        f"organ_id = {_toml(organ_id)}",
        f"hub_url = {_toml(base_url)}",
        f"token_file = {_toml(str(agency.token_path))}",
        f"key_file = {_toml(str(agency.key_path))}",
        f"cert_file = {_toml(str(agency.cert_path))}",
        f"trust_anchors = {_toml([str(wd.pki_dir / 'ca.pem')])}",
        f"data_dir = {_toml(str(wd.data_dir / 'connectors' / organ_id))}",
        f"default_recipients = {_toml(list(default_recipients))}",
        f"poll_interval = {tick}",
        f"inbox_interval = {tick}",
        "retry_base = 0.05",
        "",
        "[adapter]",
        f"name = {_toml(adapter)}",
        "[adapter.settings]",
        *(f"{k} = {_toml(v)}" for k, v in settings.items()),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class FlowFacts:
    """What each system holds at the end, read from the systems themselves."""

    igate_dossiers: dict[str, bool] = field(default_factory=dict)
    igate_states: dict[str, list[str]] = field(default_factory=dict)
    db_inbox: Counter[str] = field(default_factory=Counter)  # MaHoSo → dossier rows
    db_inbox_other: int = 0
    outbox: list[tuple[str, str, str | None, str | None, str | None]] = field(
        default_factory=list
    )  # (id, record_key, package_id, receipt, receipt_sha256)
    outbox_states: Counter[str] = field(default_factory=Counter)
    portal_dossiers: dict[str, bool] = field(default_factory=dict)
    portal_states: dict[str, list[str]] = field(default_factory=dict)
    portal_duplicates: dict[tuple[str, str], int] = field(default_factory=dict)
    portal_sends: int = 0
    connector_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    reports: dict[str, CycleReport] = field(default_factory=dict)
    inbox_left: dict[str, int] = field(default_factory=dict)


class DossierFlow:
    """The three systems, their connectors and the department's software (module docstring).

    ``async with DossierFlow(wd, base_url, count=20, seed=…) as flow: await flow.run()``,
    then :meth:`checks` and :meth:`table`.
    """

    def __init__(
        self, wd: Workdir, base_url: str, *, count: int, seed: int, tick: float = _TICK
    ) -> None:
        """``tick``: seconds between the connectors' polls and the department's rounds
        (larger values imitate slow systems; the flow has no deadline, only a stall limit)."""
        self.tick = tick
        self.wd = wd
        self.base_url = base_url
        self.plans = make_dossiers(count, seed)
        self.expected = {p.code: p.chain for p in self.plans}
        self.igate_key = secrets.token_hex(16)
        self.portal_password = secrets.token_hex(16)
        self.igate = IgateSimulator(api_key=self.igate_key)
        self.portal = DvcqgSimulator(
            accounts={"hub-dvcqg": (self.portal_password, (PROVINCE,))}, seed=seed
        )
        db_path = wd.data_dir / "agency-db" / f"{DEPARTMENT}.sqlite3"
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self.software = AgencySoftware(sqlite_path=db_path)
        self.connectors: dict[str, Connector] = {}
        self.config_paths: dict[str, Path] = {}
        self.facts = FlowFacts()
        self.seconds = 0.0
        self.timed_out = False

    async def __aenter__(self) -> DossierFlow:
        await self.igate.__aenter__()
        await self.portal.start()
        await asyncio.to_thread(self.software.install)
        directory = self.wd.root / "connectors"
        self.config_paths = {
            PROVINCE: write_connector_config(
                directory / f"igate-{PROVINCE}.toml",
                self.wd,
                PROVINCE,
                self.base_url,
                "igate",
                {"base_url": self.igate.url, "api_key": self.igate_key, "retry_delay": 0.05},
                tick=self.tick,
            ),
            DEPARTMENT: write_connector_config(
                directory / f"sqldb-{DEPARTMENT}.toml",
                self.wd,
                DEPARTMENT,
                self.base_url,
                "sqldb",
                {"dsn": f"sqlite:///{self.db_path}"},
                default_recipients=(PROVINCE,),
                tick=self.tick,
            ),
            PORTAL: write_connector_config(
                directory / f"dvcqg-{PORTAL}.toml",
                self.wd,
                PORTAL,
                self.base_url,
                "dvcqg",
                {
                    "adapter_url": self.portal.url,
                    "username": "hub-dvcqg",
                    "password": self.portal_password,
                    "madonvi": PROVINCE,  # the portal files Hà Nội's dossiers under its code
                    "backoff_seconds": 0.05,
                },
                tick=self.tick,
            ),
        }
        for organ_id, path in self.config_paths.items():
            config = await asyncio.to_thread(load_connector_config, path)
            self.connectors[organ_id] = Connector.from_config(config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.portal.stop()
        await self.igate.__aexit__(None, None, None)

    # -- the flow ----------------------------------------------------------------------------

    async def run(self, stall: float = 30.0) -> None:
        """Register every dossier at iGate, let the systems work, stop when every state has
        reached iGate and the portal and every inbox is empty.

        There is no fixed deadline: on a busy machine the flow is slower, not broken. It
        gives up only after ``stall`` seconds in which nothing moved (no state reached iGate
        or the portal, no outbox row was marked, no inbox shrank): that is work stuck, which
        the self-check then reports."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            for connector in self.connectors.values():
                await stack.enter_async_context(connector)
            runs = {
                organ_id: asyncio.create_task(c.run(stop))
                for organ_id, c in self.connectors.items()
            }
            department = asyncio.create_task(self._department(stop))
            try:
                await self._register_at_igate()
                seen, moved = await self._progress(), loop.time()
                while not await self._complete():
                    now = await self._progress()
                    if now != seen:
                        seen, moved = now, loop.time()
                    elif loop.time() - moved > stall:
                        self.timed_out = True
                        break
                    await asyncio.sleep(self.tick)
            finally:
                stop.set()
                await department
                for organ_id, task in runs.items():
                    self.facts.reports[organ_id] = await task
            for organ_id, connector in self.connectors.items():
                self.facts.connector_counts[organ_id] = connector.state.counts()
        self.seconds = loop.time() - started
        await self._read_facts()

    async def _progress(self) -> tuple[object, ...]:
        """How far the flow has come: states at iGate and the portal, outbox rows marked,
        dossier rows in the department's inbox, and the connectors' counts. Any change is
        progress."""
        igate = sum(len(self.igate.progress_of(code)) for code in self.expected)
        portal = sum(len(v) for v in self.portal.progress.values())
        marked = await asyncio.to_thread(
            self.software.query,
            "SELECT COUNT(*) FROM {outbox} WHERE receipt_sha256 IS NOT NULL",
        )
        received = await asyncio.to_thread(self.software.query, "SELECT COUNT(*) FROM {inbox}")
        counts = tuple(
            tuple(sorted(c.state.counts().items())) for _, c in sorted(self.connectors.items())
        )
        return (igate, portal, int(marked[0][0]), int(received[0][0]), counts)

    async def _register_at_igate(self) -> None:
        """Officers at Hà Nội's one-stop desk register each dossier in iGate."""
        async with aiohttp.ClientSession(headers={"X-API-Key": self.igate_key}) as session:
            for plan in self.plans:
                record = igate_mapping.ho_so_to_native(plan.ho_so, to=(DEPARTMENT,))
                async with session.post(f"{self.igate.url}/api/v1/dossiers", json=record) as r:
                    if r.status != 201:
                        raise RuntimeError(f"iGate refused {plan.code}: {await r.text()}")

    async def _department(self, stop: asyncio.Event) -> None:
        """The department's own software: take new dossiers from the inbox, then give each
        its next state per round — one transaction per state, business change and outbox row
        together — as officers would over days."""
        pending: dict[str, list[str]] = {}
        index: dict[str, int] = {}
        by_code = {p.code: p for p in self.plans}
        while not stop.is_set():
            processed = await asyncio.to_thread(self.software.process_inbox)
            if processed:
                marks = ",".join("?" * len(processed))
                rows = await asyncio.to_thread(
                    self.software.query,
                    "SELECT record_key FROM {inbox}"  # noqa: S608 - placeholders only
                    f" WHERE kind = 'dossier' AND package_id IN ({marks})",
                    tuple(processed),
                )
                for (code,) in rows:
                    if code in by_code and code not in index:
                        pending[code] = list(by_code[code].chain)
                        index[code] = 0
            for code, states in list(pending.items()):
                state = states.pop(0)
                index[code] += 1
                step = progress_step(by_code[code], state, index[code])
                await asyncio.to_thread(self.software.progress, step)
                if not states:
                    del pending[code]
            await asyncio.sleep(self.tick)

    async def _complete(self) -> bool:
        """Every state at iGate and the portal, every outbox row marked with its receipt,
        and the three agencies' hub inboxes empty."""
        for code, chain in self.expected.items():
            if [str(s["status"]) for s in self.igate.progress_of(code)] != list(chain):
                return False
            steps = self.portal.progress.get((PROVINCE, code), [])
            if [str(s["TrangThai"]) for s in steps] != list(chain):
                return False
        unmarked = await asyncio.to_thread(
            self.software.query, "SELECT COUNT(*) FROM {outbox} WHERE receipt_sha256 IS NULL"
        )
        if unmarked[0][0]:
            return False
        return not any((await self._inbox_left()).values())

    async def _inbox_left(self) -> dict[str, int]:
        left: dict[str, int] = {}
        for organ_id in self.connectors:
            async with HubClient(self.base_url, self.wd.token(organ_id)) as client:
                try:
                    left[organ_id] = len((await client.inbox_page(limit=10))["items"])
                except (HubProblem, aiohttp.ClientError) as exc:
                    log.warning("inbox of %s unavailable: %s", organ_id, exc)
                    left[organ_id] = -1
        return left

    async def _read_facts(self) -> None:
        f = self.facts
        for code in self.expected:
            f.igate_dossiers[code] = self.igate.dossier(code) is not None
            f.igate_states[code] = [str(s["status"]) for s in self.igate.progress_of(code)]
            f.portal_dossiers[code] = self.portal.dossier(PROVINCE, code) is not None
            f.portal_states[code] = [
                str(s["TrangThai"]) for s in self.portal.progress.get((PROVINCE, code), [])
            ]
        f.portal_duplicates = self.portal.duplicate_sends()
        f.portal_sends = sum(self.portal.sends.values())
        query = self.software.query
        for code, kind, n in await asyncio.to_thread(
            query, "SELECT record_key, kind, COUNT(*) FROM {inbox} GROUP BY record_key, kind"
        ):
            if kind == "dossier":
                f.db_inbox[str(code)] = int(n)
            else:
                f.db_inbox_other += int(n)
        rows = await asyncio.to_thread(
            query,
            "SELECT id, record_key, package_id, receipt, receipt_sha256, payload FROM {outbox}"
            " ORDER BY id",
        )
        for row_id, key, package_id, receipt, sha, payload in rows:
            f.outbox.append((str(row_id), str(key), package_id, receipt, sha))
            state = json.loads(payload).get("TrangThaiHoSo")
            f.outbox_states[str(state)] += 1
        f.inbox_left = await self._inbox_left()

    # -- results -----------------------------------------------------------------------------

    @property
    def packages(self) -> int:
        """Dossier packages the hub accepted from the connectors (for the store check)."""
        return sum(c.get("accepted", 0) for c in self.facts.connector_counts.values())

    def checks(self) -> list[Check]:
        """The dossier flow's part of the self-check."""
        f, n = self.facts, len(self.plans)
        checks: list[Check] = []
        if self.timed_out:
            checks.append(
                Check("dossiers: the flow kept moving until it finished (no stall)", 0, 1)
            )

        def per_dossier(what: str, good: dict[str, bool], detail: dict[str, object]) -> None:
            bad = [f"{code}: {detail[code]}" for code, ok in good.items() if not ok]
            checks.append(Check(what, n - len(bad), n, bad[:10]))

        per_dossier(
            "dossiers: every dossier submitted at iGate reached the department's database once",
            {c: f.db_inbox[c] == 1 for c in self.expected},
            {c: f"{f.db_inbox[c]} inbox rows" for c in self.expected},
        )
        per_dossier(
            "dossiers: every progress state reached iGate exactly once, in order",
            {c: f.igate_states[c] == list(ch) for c, ch in self.expected.items()},
            {c: f"iGate {f.igate_states[c]}, sent {ch}" for c, ch in self.expected.items()},
        )
        per_dossier(
            "dossiers: every dossier and progress state mirrored to DVCQG exactly once, in order",
            {
                c: f.portal_dossiers[c] and f.portal_states[c] == list(ch)
                for c, ch in self.expected.items()
            },
            {c: f"portal {f.portal_states[c]}, sent {ch}" for c, ch in self.expected.items()},
        )
        steps = sum(len(ch) for ch in self.expected.values())
        checks.append(
            Check(
                f"dossiers: the portal counted no state twice ({f.portal_sends} states received)",
                1 if not f.portal_duplicates and f.portal_sends == n + steps else 0,
                1,
                [f"{k}: {v}×" for k, v in list(f.portal_duplicates.items())[:10]],
            )
        )
        organ = DEPARTMENT
        bad_rows = [
            f"row {row_id} ({key}): package {pid}, receipt sha256 {sha}"
            for row_id, key, pid, receipt, sha in f.outbox
            if receipt is None
            or sha != hashlib.sha256(receipt.encode("utf-8")).hexdigest()
            or pid == stable_package_id(organ, key, row_id)
        ]
        ids = [pid for _, _, pid, _, _ in f.outbox]
        if len(set(ids)) != len(ids):
            bad_rows.append("two outbox rows marked with the same package id")
        checks.append(
            Check(
                "dossiers: every outbox row sent once, marked with the hub's id and receipt",
                len(f.outbox) - len(bad_rows) if len(f.outbox) == steps else 0,
                steps,
                bad_rows[:10],
            )
        )
        trouble = [
            f"{organ_id}: {name} {count}"
            for organ_id, counts in f.connector_counts.items()
            for name, count in counts.items()
            if name in ("signed", "refused", "rejected", "quarantine") and count
        ] + [
            f"{organ_id}: {name} {getattr(report, name)}"
            for organ_id, report in f.reports.items()
            for name in (
                "receipt_invalid",
                "errors",
                "misconfigured",
                "quarantined",
                "refused",
                "rejected",
            )
            if getattr(report, name)
        ]
        receipts = sum(c.get("receipts", 0) for c in f.connector_counts.values())
        checks.append(
            Check(
                "dossiers: connectors verified every receipt; nothing refused, rejected, "
                "quarantined or left in an inbox",
                1 if not trouble and receipts == self.packages == n + steps else 0,
                1,
                trouble
                + [f"{a}: {k} waiting in the hub inbox" for a, k in f.inbox_left.items() if k]
                + (
                    [f"{receipts} receipts for {self.packages} packages ({n + steps} planned)"]
                    if not receipts == self.packages == n + steps
                    else []
                ),
            )
        )
        return checks

    def table(self) -> Table:
        """The "Dossiers" summary table, counted from each system's own records."""
        f = self.facts
        t = Table(
            title="Dossiers (iGate → the department's database → back; mirrored to DVCQG)",
            title_justify="left",
        )
        t.add_column("stage")
        t.add_column("TrangThaiHoSo", justify="right")
        t.add_column(f"iGate {PROVINCE}", justify="right")
        t.add_column(f"DB {DEPARTMENT}", justify="right")
        t.add_column(f"DVCQG {PORTAL}", justify="right")
        igate = Counter(s for states in f.igate_states.values() for s in states)
        portal = Counter(s for states in f.portal_states.values() for s in states)
        for stage, state in STAGES:
            if state == "1":
                row = (
                    sum(f.igate_dossiers.values()),
                    sum(f.db_inbox.values()),
                    sum(f.portal_dossiers.values()),
                )
            else:
                row = (igate[state], f.outbox_states[state], portal[state])
            t.add_row(stage, state, *(str(v) for v in row))
        counts = f.connector_counts
        t.caption = (
            f"{len(self.plans)} dossiers in {self.seconds:.1f} s; {self.packages} dossier "
            f"packages, {sum(c.get('receipts', 0) for c in counts.values())} receipts verified "
            f"by the connectors; outbox rows marked with the hub's receipt: "
            f"{sum(1 for r in f.outbox if r[4])}/{len(f.outbox)}; duplicates counted by the "
            f"simulators: {len(f.portal_duplicates)}. Connectors: "
            f"{_shown(self.wd.root / 'connectors')}/*.toml"
        )
        return t


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
