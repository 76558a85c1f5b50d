"""Make the upgrade-in-place fixtures with a *release's* code (run it with that release's venv).

    git worktree add --detach ../wt-release <release commit>
    (cd ../wt-release && python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]')
    ../wt-release/.venv/bin/python tests/upgrade/make_fixtures.py            # both backends

For each backend it builds a hub working directory the way an operator's would look after a
while, with the release's own commands wherever they exist:

1. ``hub demo --packages 3`` — documents, status packages that move lifecycle states, 20
   citizen dossiers through their states, VXP systems, the audit chain and a checkpoint;
   every delivery acknowledged;
2. ``hub pki issue`` + agencies.toml (a 13th agency, later disabled), ``hub agency import``
   (directory entries), ``hub operator add`` (two dashboard accounts), ``hub agency
   rotate-token`` (the old token kept as ``token.revoked``);
3. a hub (the release's ``Runtime`` and API, as ``hub serve`` assembles them) for traffic that
   leaves deliveries in every state: ``available``, ``delivered``, ``acked``, ``dead`` (the push
   agency's URL refuses connections), ``failed`` (a retry scheduled an hour later);
4. ``hub agency disable``, ``hub vxp disable``, ``hub audit checkpoint``;
5. a last hub with its dispatcher off (``queued``) and the broker refusing to confirm
   (``pending``: a crash between commit and confirm), where the manifest is observed
   (:mod:`observe`, over HTTP) before it stops;
6. ``hub audit verify`` and ``hub db migrate`` (the schema version) go in the manifest.

It writes into ``tests/upgrade/fixtures/`` (xz-compressed: its large window shares the
certificates every signed package repeats): ``<backend>-workdir.tar.xz`` (config, dev PKI,
examples, the data directory without the demo's simulated agencies' own databases),
``<backend>-manifest.json.xz`` and, for PostgreSQL, ``postgresql-schema.sql.xz`` (``pg_dump
--schema`` as plain SQL with INSERTs, schema :data:`FIXTURE_SCHEMA`, loaded by the tests into a
fresh schema). Steps 3 and 5 use the release's Python API (there is no command for "stop the
dispatcher" or "break the broker"): a later release refreshing the fixtures may have to
follow its renames there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import lzma
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp.test_utils import TestServer
from psycopg import sql

# The release's code (this script runs in the release's venv).
import hub
from hub.api.app import build_app
from hub.config import load_config
from hub.demo.factory import Signer, status
from hub.demo.factory import document as full_document
from hub.edxml import Organ
from hub.runtime import Runtime
from signing.pki import load_certificates, load_private_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from observe import OPERATORS, observe

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
FIXTURE_SCHEMA = "hub_upgrade_fixture"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEMO_SCHEMA = "hub_demo"  # where `hub demo --store postgresql` writes

G12, G17, G22 = "000.00.00.G12", "000.00.00.G17", "000.00.00.G22"
H14, H29, H41, H41_HOME = "000.00.00.H14", "000.00.00.H29", "000.00.00.H41", "000.00.01.H41"
#: the agency added after the demo and disabled (an override row)
H53, H53_NAME = "000.00.00.H53", "UBND Tỉnh Tây Ninh"
#: a refused push: nothing listens on the discard port
DEAD_URL = "http://127.0.0.1:9/"
WAIT_SECONDS = 60.0

DIRECTORY_CSV = """code,name,parent,code102,old_code
000.00.13.H41,Sở Tài chính Tỉnh Nghệ An,000.00.00.H41,000.00.13.H41,STC.NA
001.00.13.H41,Phòng Quản lý ngân sách,000.00.13.H41,,
000.00.21.H29,Sở Giáo dục và Đào tạo Thành phố Hà Nội,000.00.00.H29,,SGDĐT.HN
000.20.33.H41,UBND xã Diễn Thành,000.00.00.H41,,
"""


def hub_cli(*args: str, stdin: str | None = None) -> str:
    """Run the release's ``hub`` command; its standard output."""
    exe = Path(sys.executable).parent / "hub"
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1"}
    done = subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def release_commit() -> str:
    """The commit of the checkout the imported ``hub`` package comes from."""
    root = Path(hub.__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return done.stdout.strip() + ("-dirty" if dirty else "")


# -- the working directory's configuration ----------------------------------------------------


def add_disabled_agency(root: Path) -> None:
    """Issue a 13th agency with ``hub pki issue`` and register it in agencies.toml."""
    printed = hub_cli("pki", "issue", str(root / "pki"), H53, "--name", H53_NAME)
    cert = re.search(r'cert_sha256 = \["([0-9a-f]{64})"\]', printed)
    token = re.search(r'token_sha256 = \["([0-9a-f]{64})"\]', printed)
    if not cert or not token:
        raise SystemExit(f"hub pki issue printed no registration lines:\n{printed}")
    with (root / "config" / "agencies.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'\n[[agency]]\norgan_id = "{H53}"\n'
            f'name = "{H53_NAME}"\nenabled = true\n'
            f'cert_sha256 = ["{cert.group(1)}"]\ntoken_sha256 = ["{token.group(1)}"]\n'
            'delivery = "pull"\nmay_send = ["document", "status"]\n'
        )


def point_push_at_nothing(root: Path) -> None:
    """The push agency's URL was the demo's receiver; make every push to it fail."""
    path = root / "config" / "agencies.toml"
    text = re.sub(r'push_url = "[^"]*"', f'push_url = "{DEAD_URL}"', path.read_text("utf-8"))
    path.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def retry_delays(root: Path, delays: str) -> Any:
    """hub.toml with another ``retry_delays`` for a while."""
    path = root / "config" / "hub.toml"
    before = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"retry_delays = \[[^]]*\]", delays, before), encoding="utf-8")
    try:
        yield
    finally:
        path.write_text(before, encoding="utf-8")


def admin_commands(root: Path) -> None:
    """Directory entries, operators and a rotated token, with the release's commands."""
    config = str(root / "config")
    csv = root / "directory.csv"
    csv.write_text(DIRECTORY_CSV, encoding="utf-8")
    hub_cli("agency", "import", str(csv), "--config", config, "--actor", "fixtures")
    csv.unlink()
    for username, (role, password) in OPERATORS.items():
        hub_cli(
            "operator", "add", username, "--config", config, "--role", role,
            "--password-stdin", "--actor", "fixtures", stdin=password + "\n",
        )  # fmt: skip
    agency = root / "pki" / "agencies" / H14
    shutil.copy2(agency / "token", agency / "token.revoked")
    hub_cli(
        "agency", "rotate-token", H14, "--config", config, "--reason", "Lộ mã truy cập",
        "--token-file", str(agency / "token"), "--actor", "fixtures",
    )  # fmt: skip


def late_admin_commands(root: Path) -> None:
    """Overrides written after the traffic: a disabled agency and VXP system, a checkpoint."""
    config = str(root / "config")
    hub_cli(
        "agency", "disable", H53, "--config", config, "--reason", "Chưa hoàn thành kết nối",
        "--actor", "fixtures",
    )  # fmt: skip
    hub_cli(
        "vxp", "disable", "vxp.000.00.00.H12", "--config", config, "--reason",
        "Hệ thống cũ ngừng hoạt động", "--actor", "fixtures",
    )  # fmt: skip
    hub_cli("audit", "checkpoint", "--config", config)


# -- traffic through the release's hub ----------------------------------------------------------


class Agencies:
    """Agencies acting on a running hub over HTTP."""

    def __init__(self, root: Path, base_url: str, http: aiohttp.ClientSession) -> None:
        self.root, self.base, self.http = root, base_url, http

    def token(self, organ_id: str) -> str:
        return (self.root / "pki" / "agencies" / organ_id / "token").read_text().strip()

    def signer(self, organ_id: str, name: str) -> Signer:
        d = self.root / "pki" / "agencies" / organ_id
        key = load_private_key(d / "key.pem")
        return Signer(organ_id, name, key, load_certificates(d / "cert.pem")[0])

    def _auth(self, organ_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(organ_id)}"}

    async def submit(self, organ_id: str, data: bytes, expect: int = 202) -> str:
        headers = {**self._auth(organ_id), "Content-Type": "application/xml"}
        async with self.http.post(f"{self.base}/v1/packages", data=data, headers=headers) as r:
            body = await r.read()
            if r.status != expect:
                raise SystemExit(f"submission as {organ_id}: {r.status} {body[:400]!r}")
            return r.headers.get("Location", "").rsplit("/", 1)[-1]

    async def fetch(self, organ_id: str, package_id: str) -> None:
        url = f"{self.base}/v1/packages/{package_id}"
        async with self.http.get(url, headers=self._auth(organ_id)) as r:
            await r.read()
            assert r.status == 200, r.status

    async def ack(self, organ_id: str, package_id: str) -> None:
        url = f"{self.base}/v1/packages/{package_id}/ack"
        async with self.http.post(url, headers=self._auth(organ_id)) as r:
            await r.read()
            assert r.status == 200, r.status

    async def state(self, organ_id: str, package_id: str, recipient: str) -> str:
        url = f"{self.base}/v1/packages/{package_id}/trace"
        async with self.http.get(url, headers=self._auth(organ_id)) as r:
            trace = await r.json()
        return str(next(d["state"] for d in trace["recipients"] if d["organ_id"] == recipient))

    async def wait_state(self, sender: str, package_id: str, recipient: str, *want: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while (state := await self.state(sender, package_id, recipient)) not in want:
            if time.monotonic() > deadline:
                raise SystemExit(f"{package_id} → {recipient} stuck in {state}, not {want}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_hub(
    root: Path, **runtime_options: Any
) -> AsyncIterator[tuple[Runtime, Agencies]]:
    """The release's hub over ``root/config`` (Runtime + API, as ``hub serve``)."""
    async with Runtime(load_config(root / "config"), **runtime_options) as runtime:
        server = TestServer(build_app(runtime), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as http:
                base = str(server.make_url("")).rstrip("/")
                yield runtime, Agencies(root, base, http)
        finally:
            await server.close()


def organ(organ_id: str, name: str) -> Organ:
    return Organ(organ_id=organ_id, organ_name=name)


NGHE_AN = organ(H41, "UBND Tỉnh Nghệ An")
#: attachment bytes of the fixtures' own documents (random: they do not compress)
ATTACHMENT = 600


def document(*args: Any, **kw: Any) -> tuple[str, bytes]:
    """A signed document with a small attachment (the fixtures stay small)."""
    return full_document(*args, attachment_size=ATTACHMENT, **kw)


async def traffic(root: Path) -> dict[str, str]:
    """Deliveries in every state the release knows; the package ids by role."""
    ids: dict[str, str] = {}
    rng = random.Random(46)
    with retry_delays(root, "retry_delays = [0.2, 0.5, 1.0]"):
        async with running_hub(root) as (_rt, a):
            g22, h41 = a.signer(G22, "Văn phòng Chính phủ"), a.signer(H41, "UBND Tỉnh Nghệ An")
            g17, h29 = a.signer(G17, "Sở TT&TT Hải Phòng"), a.signer(H29, "UBND Thành phố Hà Nội")
            # G22 → Nghệ An (copied to its Department of Home Affairs): H41 fetches it and
            # answers 01 then 03; the department leaves its copy available.
            doc1_id, doc1 = document(
                g22, [NGHE_AN], number=7101, rng=rng,
                subject="Về việc tổ chức Hội nghị trực tuyến tổng kết chuyển đổi số năm 2026",
            )  # fmt: skip
            ids["doc1"] = await a.submit(G22, doc1)
            await a.wait_state(G22, ids["doc1"], H41, "available")
            await a.wait_state(G22, ids["doc1"], H41_HOME, "available")
            await a.fetch(H41, ids["doc1"])
            for code in ("01", "03"):
                pid = await a.submit(
                    H41, status(h41, document_author=G22, document_id=doc1_id, code=code)
                )
                await a.wait_state(H41, pid, G22, "available")
                await a.fetch(G22, pid)
                await a.ack(G22, pid)
            # its update (BussinessDocType 2), fetched and acknowledged by Nghệ An
            _, update = document(
                g22, [NGHE_AN], number=7102, rng=rng, business_doc_type=2,
                original_document_id=doc1_id, subject="Cập nhật: thời gian tổ chức Hội nghị",
            )  # fmt: skip
            ids["doc1_update"] = await a.submit(G22, update)
            await a.wait_state(G22, ids["doc1_update"], H41, "available")
            await a.fetch(H41, ids["doc1_update"])
            await a.ack(H41, ids["doc1_update"])
            # Nghệ An → G22: acknowledged; G22 answers 03 and 05, left unread in H41's inbox
            doc2_id, doc2 = document(
                h41, [organ(G22, "Văn phòng Chính phủ")], number=7103, rng=rng,
                subject="Báo cáo kết quả triển khai Đề án 06 trên địa bàn tỉnh Nghệ An",
            )  # fmt: skip
            ids["doc2"] = await a.submit(H41, doc2)
            await a.wait_state(H41, ids["doc2"], G22, "available")
            await a.fetch(G22, ids["doc2"])
            await a.ack(G22, ids["doc2"])
            for code in ("03", "05"):
                pid = await a.submit(
                    G22, status(g22, document_author=H41, document_id=doc2_id, code=code)
                )
                await a.wait_state(G22, pid, H41, "available")
            # a push that never gets through: dead-lettered after the last attempt
            _, doc3 = document(g17, [organ(G12, "Bộ TT&TT")], number=7104, rng=rng)
            ids["doc3_dead"] = await a.submit(G17, doc3)
            await a.wait_state(G17, ids["doc3_dead"], G12, "dead")
            # a subject in NFD, as some systems write it, left available to Cao Bằng
            subject = unicodedata.normalize(
                "NFD", "V/v hướng dẫn số hóa hồ sơ, kết quả giải quyết thủ tục hành chính"
            )
            _, doc4 = document(
                h29, [organ(H14, "UBND Tỉnh Cao Bằng")], number=7105, rng=rng, subject=subject
            )
            ids["doc4_nfd"] = await a.submit(H29, doc4)
            await a.wait_state(H29, ids["doc4_nfd"], H14, "available")
    # a push whose next try is an hour away: failed, a delayed entry in the broker
    with retry_delays(root, "retry_delays = [3600.0]"):
        async with running_hub(root) as (_rt, a):
            g22 = a.signer(G22, "Văn phòng Chính phủ")
            _, doc5 = document(g22, [organ(G12, "Bộ TT&TT")], number=7106, rng=rng)
            ids["doc5_failed"] = await a.submit(G22, doc5)
            await a.wait_state(G22, ids["doc5_failed"], G12, "failed")
    return ids


async def last_hub(root: Path, ids: dict[str, str]) -> dict[str, Any]:
    """Queued and pending deliveries, then the manifest observed on this hub."""
    async with running_hub(root, dispatch=False, republish_interval=3600.0) as (rt, a):
        h14, h41 = a.signer(H14, "UBND Tỉnh Cao Bằng"), a.signer(H41, "UBND Tỉnh Nghệ An")
        rng = random.Random(47)
        _, doc6 = document(
            h14, [NGHE_AN], number=7107, rng=rng,
            subject="V/v phối hợp bảo vệ an ninh biên giới tỉnh Cao Bằng",
        )  # fmt: skip
        ids["doc6_queued"] = await a.submit(H14, doc6)
        await a.wait_state(H14, ids["doc6_queued"], H41, "queued")

        async def unconfirmed(*_args: Any, **_kw: Any) -> None:
            raise ConnectionError("fixture: the broker went away before confirming")

        publish: Callable[..., Awaitable[None]] = rt.broker.publish
        rt.broker.publish = unconfirmed  # type: ignore[method-assign]
        _, doc7 = document(
            h41, [organ(H29, "UBND Thành phố Hà Nội")], number=7108, rng=rng,
            subject="Đề nghị cung cấp thông tin quy hoạch khu đô thị mới",
        )  # fmt: skip
        await a.submit(H41, doc7, expect=503)
        rt.broker.publish = publish  # type: ignore[method-assign]
        seen = await observe(a.base, root)
    pending = [
        pid
        for pid, trace in seen["packages"].items()
        if any(d["state"] == "pending" for d in trace["recipients"])
    ]
    if len(pending) != 1:
        raise SystemExit(f"expected one package with pending deliveries, saw {pending}")
    ids["doc7_pending"] = pending[0]
    return seen


# -- one backend ------------------------------------------------------------------------------


def prepare_postgres(root: Path, url: str) -> None:
    """Move the demo's schema to :data:`FIXTURE_SCHEMA` and point hub.toml at it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(FIXTURE_SCHEMA))
        )
        conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(DEMO_SCHEMA), sql.Identifier(FIXTURE_SCHEMA)
            )
        )
    path = root / "config" / "hub.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(f'schema = "{DEMO_SCHEMA}"', f'schema = "{FIXTURE_SCHEMA}"'), "utf-8"
    )


def counts(root: Path, backend: str, url: str) -> dict[str, int]:
    """Row counts of the release's main tables, to check the observation saw everything."""
    tables = ("packages", "deliveries", "events", "directory_entries", "vxp_systems", "operators")
    out: dict[str, int] = {}
    if backend == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(root / "data" / "hub.sqlite")) as db:
            for t in tables:
                out[t] = db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
        return out
    with psycopg.connect(url) as conn:
        for t in tables:
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(FIXTURE_SCHEMA), sql.Identifier(t)
            )
            row = conn.execute(q).fetchone()
            out[t] = int(row[0]) if row else 0
    return out


def audit_line(root: Path) -> str:
    out = hub_cli("audit", "verify", "--config", str(root / "config"), "--no-progress")
    if "OK:" not in out:
        raise SystemExit(f"hub audit verify:\n{out}")
    return out.splitlines()[0]


def schema_version(root: Path) -> int:
    printed = hub_cli("db", "migrate", "--config", str(root / "config"))
    found = re.search(r"version (\d+)", printed)
    if not found:
        raise SystemExit(f"hub db migrate printed no version: {printed}")
    return int(found.group(1))


def pack(root: Path, target: Path) -> None:
    """The hub's part of the workdir: config, dev PKI, examples, its data directory."""
    members = ["config", "pki", "examples", "data/hub.sqlite", "data/vxp"]
    with tarfile.open(target, "w:xz", preset=9) as tar:
        for name in members:
            if (root / name).exists():
                tar.add(root / name, arcname=f"workdir/{name}")


def dump_postgres(url: str, target: Path) -> None:
    dumped = subprocess.run(
        [
            "pg_dump", "--dbname", url, "--schema", FIXTURE_SCHEMA, "--no-owner",
            "--no-privileges", "--inserts", "--rows-per-insert=100",
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    # pg_dump 15.14+ brackets its output in psql's \restrict/\unrestrict meta-commands;
    # without them the file is plain SQL any client can run.
    lines = [
        line
        for line in dumped.stdout.splitlines(keepends=True)
        if not line.startswith((b"\\restrict ", b"\\unrestrict "))
    ]
    target.write_bytes(lzma.compress(b"".join(lines), preset=9))


def make(backend: str, out: Path, url: str, keep: Path | None) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f"upgrade-{backend}-"))
    root = scratch / "w"
    try:
        demo = ["demo", "--workdir", str(root), "--packages", "3", "--port", "0"]
        if backend == "postgresql":
            demo += ["--store", "postgresql", "--store-url", url]
        hub_cli(*demo)
        if backend == "postgresql":
            prepare_postgres(root, url)
        for name in ("connectors", "data/connectors", "data/agency-db"):
            shutil.rmtree(root / name, ignore_errors=True)  # the simulated agencies' own
        add_disabled_agency(root)
        point_push_at_nothing(root)
        admin_commands(root)
        ids = asyncio.run(traffic(root))
        late_admin_commands(root)
        seen = asyncio.run(last_hub(root, ids))
        rows = counts(root, backend, url)
        if len(seen["packages"]) != rows["packages"]:
            raise SystemExit(f"observed {len(seen['packages'])} packages of {rows['packages']}")
        manifest = {
            "release": {"commit": release_commit(), "version": hub.__version__},
            "backend": backend,
            "schema": FIXTURE_SCHEMA if backend == "postgresql" else None,
            "schema_version": schema_version(root),
            "audit": audit_line(root),
            "rows": rows,
            "roles": ids,
            "observed": seen,
        }
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        (out / f"{backend}-manifest.json.xz").write_bytes(lzma.compress(text.encode(), preset=9))
        pack(root, out / f"{backend}-workdir.tar.xz")
        if backend == "postgresql":
            dump_postgres(url, out / "postgresql-schema.sql.xz")
        print(f"{backend}: {rows['packages']} packages, {rows['deliveries']} deliveries, "
              f"{rows['events']} events; {manifest['audit']}")  # fmt: skip
    finally:
        if backend == "postgresql":
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(FIXTURE_SCHEMA)
                    )
                )
        if keep is not None:
            shutil.copytree(root, keep / backend, dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    parser.add_argument(
        "--store-url", default=os.environ.get("HUB_TEST_POSTGRES_DSN", DEFAULT_PG_URL)
    )
    parser.add_argument("--keep", type=Path, default=None, help="copy the workdirs here too")
    args = parser.parse_args()
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        make(backend, args.out, args.store_url, args.keep)


if __name__ == "__main__":
    main()
