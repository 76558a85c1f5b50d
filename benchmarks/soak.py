"""Soak benchmark: a real ``hub serve`` under a constant offered load for a long time.

Run: .venv/bin/python benchmarks/soak.py [--minutes 30] [--rate R | --fraction 0.5]
     [--interval 10] [--size BYTES] [--store sqlite|postgresql] [--broker local|rabbitmq]
     [--workers N] [--processes P] [--pull-mode batch|single] [--json FILE]

Issue 12 asks for "30-minute soak at half the measured capacity: RSS flat within 5 %, no growth
of WAL or queue tables". In one run:

1. **capacity** (unless ``--rate`` is given): the ingest benchmark's own HTTP run
   (:func:`benchmarks.ingest.http_run`: ``--capacity-packages`` signed ~20 KB packages from 64
   clients, pull agencies fetching and acking) on fresh storage; the offered rate is then
   ``--fraction`` (0.5) of its accepted/s;
2. **soak**: a fresh hub (``hub serve`` as a subprocess in its own session, as the ingest
   benchmark starts it) and the eight demo agencies pulling, fetching and acking everything
   (:func:`benchmarks.ingest.pull_all`: ``--pull-mode batch``, the default, up to 100 packages
   fetched and acked in two requests; ``single``, ``--pull-parallel`` packages at once each,
   a fetch and an ack per package); packages
   are submitted **open-loop** at the constant rate — one every 1/rate seconds whatever the
   answers, at most ``--max-inflight`` at once (a send that would exceed it is counted as
   *skipped*: the hub is then overloaded). Each
   package is unique (its own DocumentId): one unsigned template per sender and recipients,
   its number replaced and the result signed as it is sent (0.7 ms), so hours of load need
   no gigabytes of pre-signed packages. ``--warmup-seconds`` of load first, not sampled;
3. **samples** every ``--interval`` seconds: the RSS of every process in the hub's session
   (server and check workers, ``/proc/<pid>/stat``), the WAL of every SQLite database under
   the data directory — how much of it is in use and how far its checkpoints lag, at their
   largest since the last sample, from the WAL index (``-shm``) read ``--wal-poll`` times a
   second (:func:`hub.sqlitedb.read_wal_index`), and the ``-wal`` file's size —, the size of
   the SQLite database, the rows of the queue tables (the
   embedded broker's ``broker_*`` tables, any ``*outbox*`` table, deliveries by state — by
   name, in SQLite and in the PostgreSQL schema; RabbitMQ's ready + unacked messages via
   ``rabbitmqctl``), and in the interval: accepted/s, acked/s, latency p50/p99, hub cores;
4. after the load stops, how long the hub takes to drain (every delivery acked, the queue
   tables empty), then a last sample. (The totals offered/accepted include the warm-up.)
   On PostgreSQL, also every table's size and live and dead rows, and a warning at the start
   when the server runs without autovacuum (its dead rows then only accumulate).

The **verdict** compares the first and the last window (5 minutes each, or a third of a
shorter run): RSS of the hub's processes (sum, mean over the window) flat within 5 %; the WAL
in use and the checkpoint lag (the mean over the window of each interval's largest value) and
the queue tables (mean rows) not grown by more than 5 % — with floors for small values: 1 MiB
of WAL, one second of offered traffic in rows — and the load actually carried (accepted ≥ 99 %
of offered, nothing refused). The WAL is judged by the part in use, not the file's size: SQLite
restarts the WAL from its start after a checkpoint and never shrinks the file below its
``journal_size_limit``, so the size is the largest excursion so far and creeps up with the
length of a run even when nothing grows; a WAL that really grows (checkpoints held back, or no
restart) has ever more frames in use and fails. The file's size is still printed.

It prints a line per sample, a table, then the result as JSON (``--json FILE`` also gets every
sample).
"""

# ruff: noqa: E402  (imports after the sys.path line, as in ingest.py)

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from benchmarks.ingest import (
    PULL_MODES,
    SENDERS,
    attachment_size_for,
    cleanup,
    free_port,
    http_run,
    make_packages,
    percentile,
    prepare,
    pull_all,
    self_cpu_seconds,
    session_cpu_seconds,
    session_stats,
    signer_for,
    start_hub,
    stop_hub,
    wait_ready,
)
from hub.config import load_config
from hub.demo.factory import Signer, document
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir, create_workdir
from hub.edxml import Organ
from hub.sqlitedb import read_wal_index

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
#: the number written into every template, replaced by a package's own (same width)
PLACEHOLDER = b"918273645"
FIRST_NUMBER = 100_000_000
#: what "flat" and "no growth" tolerate (issue 12: "RSS flat within 5 %")
TOLERANCE = 0.05
WAL_FLOOR = 1 * MIB
#: deliveries by state, all but the acked ones (``{table}``: the table's name)
OPEN_BY_STATE = (
    "SELECT state, count(*) FROM {table} WHERE state IN "
    "('pending', 'queued', 'available', 'delivered', 'failed', 'dead') GROUP BY state"
)


# -- unique packages at the offered rate ------------------------------------------------------


class PackageStream:
    """Unique signed packages on demand, from five senders to two agencies each."""

    def __init__(self, workdir: Workdir, size: int, seed: int) -> None:
        rng = random.Random(seed)
        signers = {s: signer_for(workdir, s) for s in SENDERS}
        payload = attachment_size_for(signers[SENDERS[0]], size)
        others = [a.organ_id for a in DEFAULT_AGENCIES]
        self.templates: list[tuple[str, Signer, bytes]] = []
        for sender in SENDERS:
            for _ in range(2):
                to = rng.sample([o for o in others if o != sender], 2)
                _, unsigned = document(
                    signers[sender],
                    [Organ(organ_id=r, organ_name=r) for r in to],
                    number=int(PLACEHOLDER),
                    rng=rng,
                    attachment_size=payload,
                    signed=False,
                )
                if unsigned.count(PLACEHOLDER) < 2:  # DocumentId and CodeNumber at least
                    raise SystemExit("the template's document number was not found")
                self.templates.append((sender, signers[sender], unsigned))
        self.sent = 0

    def next(self) -> tuple[str, bytes]:
        """The next package: (sender, signed bytes), a DocumentId never used before."""
        sender, signer, unsigned = self.templates[self.sent % len(self.templates)]
        number = str(FIRST_NUMBER + self.sent).encode()
        self.sent += 1
        return sender, signer.sign(unsigned.replace(PLACEHOLDER, number))


# -- the offered load ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What the load saw since the last sample."""

    offered: int = 0
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)


class OfferedLoad:
    """Submissions at a constant rate, open-loop (one every 1/rate s, answered or not)."""

    def __init__(
        self,
        url: str,
        tokens: dict[str, str],
        stream: PackageStream,
        rate: float,
        max_inflight: int,
    ) -> None:
        self.url, self.tokens, self.stream = url, tokens, stream
        self.rate, self.max_inflight = rate, max_inflight
        self.window = Tally()
        self.total = Tally()
        self.inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def take(self) -> Tally:
        """The tally since the last call."""
        window, self.window = self.window, Tally()
        return window

    async def run(self, seconds: float) -> None:
        """Offer ``rate`` packages per second for ``seconds``."""
        connector = aiohttp.TCPConnector(limit=self.max_inflight)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            loop = asyncio.get_running_loop()
            start, n = loop.time(), 0
            while (due := start + n / self.rate) < start + seconds:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                n += 1
                self._count("offered")
                if self.inflight >= self.max_inflight:
                    self._count("skipped")
                    continue
                sender, data = self.stream.next()
                task = asyncio.create_task(self._submit(session, sender, data))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if self._tasks:
                await asyncio.gather(*self._tasks)

    def _count(self, name: str) -> None:
        for tally in (self.window, self.total):
            setattr(tally, name, getattr(tally, name) + 1)

    async def _submit(self, session: aiohttp.ClientSession, sender: str, data: bytes) -> None:
        headers = {
            "Authorization": f"Bearer {self.tokens[sender]}",
            "Content-Type": "application/xml",
        }
        self.inflight += 1
        t0 = time.perf_counter()
        try:
            async with session.post(f"{self.url}/v1/packages", data=data, headers=headers) as r:
                body = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._count("errors")
            print(f"submission failed: {exc!r}", file=sys.stderr)
            return
        finally:
            self.inflight -= 1
        if status == 202:
            self._count("accepted")
            latency = time.perf_counter() - t0
            self.window.latencies.append(latency)
        else:
            self._count("refused")
            print(f"refused: HTTP {status} {body[:300]!r}", file=sys.stderr)


# -- what is sampled ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueProbe:
    """Rows of the queue tables, found by name wherever the configuration keeps them."""

    sqlite_path: Path
    store: str
    store_url: str | None
    schema: str | None
    rabbit_vhost: str | None

    @staticmethod
    def queue_table(name: str) -> bool:
        """The embedded broker's tables (its queue, dead letters) and any outbox."""
        return (name.startswith("broker_") and "version" not in name) or "outbox" in name

    def postgres_tables(self) -> dict[str, Any]:
        """On PostgreSQL: whether the server runs autovacuum, and per table of the hub's schema
        its size on disk and its live and dead rows (``{}`` on SQLite). Without autovacuum —
        as on a CI machine's server tuned for short tests — every delivery's two updates leave
        two dead row versions behind and the deliveries table and its indexes only grow: a
        soak there does not show what a production server (autovacuum on, its default) does."""
        if self.store != "postgresql" or not self.store_url or not self.schema:
            return {}
        import psycopg

        with psycopg.connect(self.store_url, autocommit=True) as conn:
            row = conn.execute("SHOW autovacuum").fetchone()
            tables = {
                name: {"bytes": int(size), "live_rows": int(live), "dead_rows": int(dead)}
                for name, size, live, dead in conn.execute(
                    "SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup "
                    "FROM pg_stat_user_tables WHERE schemaname = %s",
                    (self.schema,),
                )
            }
        return {"autovacuum": row[0] if row else "unknown", "tables": tables}

    def postgres_sample(self) -> dict[str, int]:
        """On PostgreSQL, what one sample adds (``{}`` on SQLite): the server's WAL directory
        (``wal_dir_bytes``: ``pg_ls_waldir``, which needs a superuser or ``pg_monitor``; left
        out without it), its ``max_wal_size``, and the hub schema's bytes on disk and dead row
        versions. The WAL directory is the PostgreSQL counterpart of the SQLite ``-wal`` files:
        the server recycles segments and keeps it near ``max_wal_size`` at most, so a WAL
        that grows past that is the hub's doing (a transaction held open, a slot, an
        archiver) and not the load's."""
        if self.store != "postgresql" or not self.store_url or not self.schema:
            return {}
        import psycopg

        out: dict[str, int] = {}
        with psycopg.connect(self.store_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT COALESCE(sum(pg_total_relation_size(relid)), 0), "
                "COALESCE(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE schemaname = %s",
                (self.schema,),
            ).fetchone()
            if row is not None:
                out["schema_bytes"], out["dead_rows"] = int(row[0]), int(row[1])
            row = conn.execute("SELECT pg_size_bytes(current_setting('max_wal_size'))").fetchone()
            if row is not None:
                out["max_wal_size_bytes"] = int(row[0])
            try:
                row = conn.execute("SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir()").fetchone()
            except psycopg.Error:  # not a superuser nor pg_monitor: the figure is left out
                row = None
            if row is not None:
                out["wal_dir_bytes"] = int(row[0])
        return out

    def rows(self) -> dict[str, int]:
        """``table`` → rows, and ``deliveries.<state>`` → deliveries in that state."""
        out: dict[str, int] = {}
        if self.sqlite_path.exists():
            uri = f"file:{self.sqlite_path}?mode=ro"
            # One short read transaction per sample: a long one would hold back checkpoints
            # and grow the very WAL this measures.
            with contextlib.closing(
                sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            ) as db:
                db.execute("BEGIN")  # every count from one snapshot
                names = [
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
                for name in names:
                    if self.queue_table(name):
                        # a name read from sqlite_master, quoted: not outside input
                        q = f'SELECT count(*) FROM "{name}"'  # noqa: S608
                        out[name] = db.execute(q).fetchone()[0]
                if "deliveries" in names:
                    # The open states only: counting every acked delivery too would make
                    # the probe itself slower with every sample, on the hub's database.
                    for state, n in db.execute(OPEN_BY_STATE.format(table="deliveries")):
                        out[f"deliveries.{state}"] = n
                db.execute("ROLLBACK")
        if self.store == "postgresql" and self.store_url and self.schema:
            import psycopg
            from psycopg import sql

            with psycopg.connect(self.store_url, autocommit=True) as conn:
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                        (self.schema,),
                    )
                ]
                for name in names:
                    if self.queue_table(name):
                        q = sql.SQL("SELECT count(*) FROM {}.{}").format(
                            sql.Identifier(self.schema), sql.Identifier(name)
                        )
                        row = conn.execute(q).fetchone()
                        out[f"pg.{name}"] = int(row[0]) if row else 0
                if "deliveries" in names:
                    q = sql.SQL(OPEN_BY_STATE.format(table="{}.deliveries")).format(
                        sql.Identifier(self.schema)
                    )
                    for state, n in conn.execute(q):
                        out[f"deliveries.{state}"] = int(n)
        if self.rabbit_vhost:
            listed = subprocess.run(
                ["rabbitmqctl", "-q", "list_queues", "-p", self.rabbit_vhost, "messages"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            out["rabbitmq.messages"] = sum(int(x) for x in listed if x.isdigit())
        return out


def queued_rows(rows: dict[str, int]) -> int:
    """Entries waiting in a queue (broker tables, outbox, RabbitMQ), dead letters included."""
    return sum(n for k, n in rows.items() if not k.startswith("deliveries."))


def unacked(rows: dict[str, int]) -> int:
    """Deliveries not acknowledged yet."""
    return sum(
        n for k, n in rows.items() if k.startswith("deliveries.") and k != "deliveries.acked"
    )


def hub_memory(sid: int) -> dict[int, int]:
    """RSS in bytes of every process in session ``sid`` (the server and its workers)."""
    return {pid: int(fields[21]) * PAGE_SIZE for pid, fields in session_stats(sid)}


class WalWatch:
    """Watches the WAL index of every SQLite database under a directory, on its own thread,
    ``poll`` times a second: the largest WAL in use and checkpoint lag (bytes) and the
    restarts, since the last :meth:`take`. Reading the ``-shm`` header takes no lock and opens
    no database, so the watch never holds a checkpoint back. Each ``-shm`` stays open until
    :meth:`stop`: this process also opens the database (:class:`QueueProbe`), and closing a
    descriptor of the file would drop that connection's locks on it
    (:func:`hub.sqlitedb.read_wal_index`)."""

    def __init__(self, data_dir: Path, poll: float) -> None:
        self.data_dir, self.poll = data_dir, poll
        self._lock = threading.Lock()
        self._in_use: dict[str, int] = {}
        self._lag: dict[str, int] = {}
        self._restarts = 0
        self._salts: dict[str, tuple[int, int]] = {}
        self._fds: dict[Path, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-watch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (idempotent; nothing to do if never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _databases(self) -> list[Path]:
        return [
            p.with_name(p.name.removesuffix("-shm"))
            for p in self.data_dir.rglob("*-shm")
            if "revocation" not in p.name
        ]

    def _run(self) -> None:
        databases: list[Path] = []
        found_at = 0.0
        while not self._stop.wait(1 / self.poll):
            if time.monotonic() - found_at > 1.0:
                databases, found_at = self._databases(), time.monotonic()
            for db in databases:
                if db not in self._fds:
                    try:
                        self._fds[db] = os.open(f"{db}-shm", os.O_RDONLY)
                    except FileNotFoundError:
                        continue
                index = read_wal_index(db, self._fds[db])
                if index is None:
                    continue
                name = str(db.relative_to(self.data_dir))
                with self._lock:
                    self._in_use[name] = max(self._in_use.get(name, 0), index.in_use_bytes)
                    lag = index.checkpoint_lag * index.frame_bytes
                    self._lag[name] = max(self._lag.get(name, 0), lag)
                    if self._salts.get(name, index.salt) != index.salt:
                        self._restarts += 1
                    self._salts[name] = index.salt

    def take(self) -> tuple[dict[str, int], dict[str, int], int]:
        """(WAL in use, checkpoint lag, restarts) since the last call; starts over."""
        with self._lock:
            out = (self._in_use, self._lag, self._restarts)
            self._in_use, self._lag, self._restarts = {}, {}, 0
        return out


def files_matching(data_dir: Path, pattern: str) -> dict[str, int]:
    """Sizes of the files under ``data_dir`` matching ``pattern``."""
    out: dict[str, int] = {}
    for path in data_dir.rglob(pattern):
        with contextlib.suppress(OSError):
            out[str(path.relative_to(data_dir))] = path.stat().st_size
    return out


@dataclass
class Sample:
    """One look at the hub, ``t`` seconds into the sampled part of the run."""

    t: float
    rss: dict[int, int]
    wal: dict[str, int]  # the -wal files' sizes
    wal_in_use: dict[str, int]  # the largest part of each WAL in use since the last sample
    wal_lag: dict[str, int]  # the largest checkpoint lag of each WAL since the last sample
    wal_restarts: int
    databases: dict[str, int]
    rows: dict[str, int]
    postgres: dict[str, int]  # QueueProbe.postgres_sample ({} on SQLite)
    offered: int
    accepted: int
    refused: int
    skipped: int
    acked: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    hub_cores: float
    loadgen_cores: float
    load1: float  # the machine's 1-minute load average (other jobs share it)

    @property
    def rss_total(self) -> int:
        return sum(self.rss.values())

    @property
    def wal_total(self) -> int:
        return sum(self.wal.values())

    @property
    def wal_in_use_total(self) -> int:
        return sum(self.wal_in_use.values())

    @property
    def wal_lag_total(self) -> int:
        return sum(self.wal_lag.values())

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rss"] = {str(k): v for k, v in self.rss.items()}
        out |= {
            "rss_total": self.rss_total,
            "wal_total": self.wal_total,
            "wal_in_use_total": self.wal_in_use_total,
            "wal_lag_total": self.wal_lag_total,
            "queued_rows": queued_rows(self.rows),
            "unacked": unacked(self.rows),
        }
        return out


class Sampler:
    """Takes :class:`Sample` s of a running hub."""

    def __init__(
        self,
        sid: int,
        data_dir: Path,
        probe: QueueProbe,
        load: OfferedLoad,
        acked: dict[tuple[str, str], float],
        wal: WalWatch,
    ) -> None:
        self.sid, self.data_dir, self.probe, self.load, self.acked, self.wal = (
            sid,
            data_dir,
            probe,
            load,
            acked,
            wal,
        )
        self.start = time.monotonic()
        self._cpu = (session_cpu_seconds(sid)[0], self_cpu_seconds(), time.monotonic())
        self._acked = len(acked)

    async def sample(self) -> Sample:
        rows = await asyncio.to_thread(self.probe.rows)
        postgres = await asyncio.to_thread(self.probe.postgres_sample)
        hub_cpu, own_cpu, now = (
            session_cpu_seconds(self.sid)[0],
            self_cpu_seconds(),
            time.monotonic(),
        )
        hub0, own0, t0 = self._cpu
        self._cpu = (hub_cpu, own_cpu, now)
        tally = self.load.take()
        acked, self._acked = len(self.acked) - self._acked, len(self.acked)
        lat = tally.latencies
        in_use, lag, restarts = self.wal.take()
        return Sample(
            t=round(now - self.start, 1),
            rss=hub_memory(self.sid),
            wal=files_matching(self.data_dir, "*-wal"),
            wal_in_use=in_use,
            wal_lag=lag,
            wal_restarts=restarts,
            databases={
                k: v
                for k, v in files_matching(self.data_dir, "*.sqlite").items()
                if "revocation" not in k
            },
            rows=rows,
            postgres=postgres,
            offered=tally.offered,
            accepted=tally.accepted,
            refused=tally.refused + tally.errors,
            skipped=tally.skipped,
            acked=acked,
            latency_p50_ms=1000 * percentile(lat, 0.5) if lat else None,
            latency_p99_ms=1000 * percentile(lat, 0.99) if lat else None,
            hub_cores=(hub_cpu - hub0) / max(1e-9, now - t0),
            loadgen_cores=(own_cpu - own0) / max(1e-9, now - t0),
            load1=os.getloadavg()[0],
        )


def print_sample(s: Sample, interval: float) -> None:
    p50 = f"{s.latency_p50_ms:.0f}" if s.latency_p50_ms is not None else "-"
    p99 = f"{s.latency_p99_ms:.0f}" if s.latency_p99_ms is not None else "-"
    print(
        f"{s.t:7.0f}s  rss {s.rss_total / MIB:7.1f} MiB ({len(s.rss)} proc)  "
        f"wal {s.wal_in_use_total / MIB:5.2f} in use, lag {s.wal_lag_total / MIB:5.2f}, "
        f"file {s.wal_total / MIB:5.2f} MiB ({s.wal_restarts} restarts)  "
        f"db {sum(s.databases.values()) / MIB:7.1f} MiB  "
        f"queued {queued_rows(s.rows):5d}  unacked {unacked(s.rows):5d}  "
        f"acc/s {s.accepted / interval:6.1f}  ack/s {s.acked / interval:6.1f}  "
        f"p50/p99 {p50}/{p99} ms  hub {s.hub_cores:.2f} cores  load {s.load1:.1f}"
        + (
            f"  pg wal {s.postgres['wal_dir_bytes'] / MIB:.0f} MiB"
            if "wal_dir_bytes" in s.postgres
            else ""
        )
        + (
            f"  pg schema {s.postgres['schema_bytes'] / MIB:.0f} MiB, "
            f"{s.postgres['dead_rows']:,} dead rows"
            if "schema_bytes" in s.postgres
            else ""
        ),
        flush=True,
    )


# -- the run ------------------------------------------------------------------------------------


async def soak(
    workdir: Workdir,
    port: int,
    probe: QueueProbe,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    interval: float,
    size: int,
    seed: int,
    workers: int,
    max_inflight: int,
    drain_seconds: float,
    pull_parallel: int,
    pull_mode: str = "batch",
    wal_poll: float = 20.0,
) -> dict[str, Any]:
    """The soak itself: samples during the load, then the drain."""
    url = f"http://127.0.0.1:{port}"
    data_dir = load_config(workdir.config_dir).settings.data_dir
    stream = PackageStream(workdir, size, seed)
    proc, log = start_hub(workdir, port, "--workers", str(workers))
    stop = asyncio.Event()
    pullers: list[asyncio.Task[None]] = []
    wal = WalWatch(data_dir, wal_poll)
    try:
        await wait_ready(url, proc)
        acked: dict[tuple[str, str], float] = {}
        pullers = [
            asyncio.create_task(
                pull_all(
                    url,
                    a.organ_id,
                    workdir.token(a.organ_id),
                    acked,
                    stop,
                    pull_parallel,
                    mode=pull_mode,
                )
            )
            for a in DEFAULT_AGENCIES
        ]
        load = OfferedLoad(url, {s: workdir.token(s) for s in SENDERS}, stream, rate, max_inflight)
        running = asyncio.create_task(load.run(warmup + seconds))
        await asyncio.sleep(warmup)
        wal.start()
        sampler = Sampler(proc.pid, data_dir, probe, load, acked, wal)
        load.take()  # the warm-up is not counted
        samples: list[Sample] = []
        for k in range(1, int(seconds // interval) + 1):
            await asyncio.sleep(max(0.0, sampler.start + k * interval - time.monotonic()))
            samples.append(await sampler.sample())
            print_sample(samples[-1], interval)
        await running
        # Drain: the load stopped; everything accepted must be delivered and acked.
        t_stop = time.monotonic()
        drained: float | None = None
        while time.monotonic() - t_stop < drain_seconds:
            rows = await asyncio.to_thread(probe.rows)
            if unacked(rows) == 0 and queued_rows(rows) - rows.get("broker_dead", 0) == 0:
                drained = time.monotonic() - t_stop
                break
            await asyncio.sleep(0.5)
        after = await sampler.sample()
    finally:
        wal.stop()
        stop.set()
        await asyncio.gather(*pullers, return_exceptions=True)
        stop_hub(proc, log, timeout=30)
    return {
        "samples": samples,
        "after_drain": after,
        "drain_s": drained,
        "offered": load.total.offered,
        "accepted": load.total.accepted,
        "refused": load.total.refused + load.total.errors,
        "skipped": load.total.skipped,
        "acked": len(acked),
    }


def window_stats(samples: list[Sample], value: Callable[[Sample], float]) -> dict[str, float]:
    values = [value(s) for s in samples]
    return {"mean": statistics.fmean(values), "max": max(values), "min": min(values)}


def summarise(run: dict[str, Any], rate: float, seconds: float, interval: float) -> dict[str, Any]:
    """First vs last window, growth, verdict."""
    samples: list[Sample] = run["samples"]
    window_s = min(300.0, seconds / 3)
    per_window = max(1, round(window_s / interval))
    first, last = samples[:per_window], samples[-per_window:]
    measures: dict[str, Callable[[Sample], float]] = {
        "rss_total_bytes": lambda s: s.rss_total,
        "rss_server_bytes": lambda s: max(s.rss.values()) if s.rss else 0,
        "wal_bytes": lambda s: s.wal_total,
        "wal_in_use_bytes": lambda s: s.wal_in_use_total,
        "wal_lag_bytes": lambda s: s.wal_lag_total,
        "queued_rows": lambda s: queued_rows(s.rows),
        "unacked_deliveries": lambda s: unacked(s.rows),
        "accepted_per_s": lambda s: s.accepted / interval,
        "acked_per_s": lambda s: s.acked / interval,
        "hub_cores": lambda s: s.hub_cores,
        "load1": lambda s: s.load1,
    }
    if all("wal_dir_bytes" in s.postgres for s in samples):
        measures["pg_wal_dir_bytes"] = lambda s: s.postgres["wal_dir_bytes"]
    if all("schema_bytes" in s.postgres for s in samples):
        measures["pg_dead_rows"] = lambda s: s.postgres["dead_rows"]
        measures["pg_schema_bytes"] = lambda s: s.postgres["schema_bytes"]
    windows = {
        name: {"first": window_stats(first, f), "last": window_stats(last, f)}
        for name, f in measures.items()
    }

    def growth(name: str, key: str) -> float:
        a, b = windows[name]["first"][key], windows[name]["last"][key]
        return (b - a) / a if a else (0.0 if b == 0 else float("inf"))

    rss = windows["rss_total_bytes"]
    wal = windows["wal_bytes"]
    row_floor = rate  # one second of offered traffic
    checks = {
        "rss_flat_within_5pct": abs(growth("rss_total_bytes", "mean")) <= TOLERANCE,
        "wal_not_growing": all(
            windows[n]["last"]["mean"]
            <= max(
                windows[n]["first"]["mean"] * (1 + TOLERANCE),
                windows[n]["first"]["mean"] + WAL_FLOOR,
            )
            for n in ("wal_in_use_bytes", "wal_lag_bytes")
        ),
        "queue_tables_not_growing": all(
            windows[n]["last"]["mean"]
            <= max(
                windows[n]["first"]["mean"] * (1 + TOLERANCE),
                windows[n]["first"]["mean"] + row_floor,
            )
            for n in ("queued_rows", "unacked_deliveries")
        ),
        "load_carried": run["refused"] == 0
        and run["skipped"] == 0
        and run["accepted"] >= 0.99 * run["offered"],
        "drained": run["drain_s"] is not None,
    }
    if "pg_wal_dir_bytes" in windows:
        # Segments are recycled up to max_wal_size (a soft limit PostgreSQL may pass by a
        # little between checkpoints): the directory reaching it in the first minutes is the
        # server's steady state, growing beyond it would be a leak.
        limit = max(s.postgres.get("max_wal_size_bytes", 0) for s in samples)
        checks["postgres_wal_within_max_wal_size"] = (
            windows["pg_wal_dir_bytes"]["last"]["max"] <= 1.25 * limit
        )
    return {
        "window_seconds": per_window * interval,
        "windows": windows,
        "rss_growth": growth("rss_total_bytes", "mean"),
        "rss_server_growth": growth("rss_server_bytes", "mean"),
        "wal_max_bytes": max(s.wal_total for s in samples),
        "wal_growth_bytes": wal["last"]["max"] - wal["first"]["max"],
        "wal_in_use_max_bytes": max(s.wal_in_use_total for s in samples),
        "wal_in_use_growth_bytes": windows["wal_in_use_bytes"]["last"]["mean"]
        - windows["wal_in_use_bytes"]["first"]["mean"],
        "rss_first_last_mib": (rss["first"]["mean"] / MIB, rss["last"]["mean"] / MIB),
        "checks": checks,
        "verdict": "PASS" if all(checks.values()) else "FAIL",
    }


def print_summary(summary: dict[str, Any], run: dict[str, Any], rate: float) -> None:
    w = summary["windows"]
    rows: list[tuple[str, str, str, str]] = [
        (
            "",
            f"first {summary['window_seconds']:.0f} s",
            f"last {summary['window_seconds']:.0f} s",
            "growth",
        )
    ]

    def line(label: str, name: str, key: str, scale: float, unit: str) -> None:
        a, b = w[name]["first"][key] / scale, w[name]["last"][key] / scale
        g = f"{100 * (b - a) / a:+.1f} %" if a else f"{b - a:+.1f}"
        rows.append((label, f"{a:,.1f}{unit}", f"{b:,.1f}{unit}", g))

    line("RSS, all hub processes (mean)", "rss_total_bytes", "mean", MIB, " MiB")
    line("RSS, largest process (mean)", "rss_server_bytes", "mean", MIB, " MiB")
    line("WAL in use (mean of maxima)", "wal_in_use_bytes", "mean", MIB, " MiB")
    line("checkpoint lag (mean of maxima)", "wal_lag_bytes", "mean", MIB, " MiB")
    line("WAL file size (max)", "wal_bytes", "max", MIB, " MiB")
    line("queued rows (mean)", "queued_rows", "mean", 1, "")
    line("unacked deliveries (mean)", "unacked_deliveries", "mean", 1, "")
    line("accepted/s (mean)", "accepted_per_s", "mean", 1, "")
    line("acked/s (mean)", "acked_per_s", "mean", 1, "")
    if "pg_wal_dir_bytes" in w:
        line("PostgreSQL WAL directory (max)", "pg_wal_dir_bytes", "max", MIB, " MiB")
    if "pg_dead_rows" in w:
        line("PostgreSQL dead row versions (mean)", "pg_dead_rows", "mean", 1, "")
        line("PostgreSQL hub schema (mean)", "pg_schema_bytes", "mean", MIB, " MiB")
    line("hub cores (mean)", "hub_cores", "mean", 1, "")
    line("machine load average (mean)", "load1", "mean", 1, "")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for r in rows:
        print("  ".join(f"{c:<{wd}}" for c, wd in zip(r, widths, strict=True)))
    drain = f"{run['drain_s']:.1f} s" if run["drain_s"] is not None else "NOT DRAINED"
    print(
        f"\noffered {run['offered']} at {rate:.1f}/s, accepted {run['accepted']}, refused "
        f"{run['refused']}, skipped {run['skipped']}; acked {run['acked']} deliveries; "
        f"drained in {drain}; WAL in use at most {summary['wal_in_use_max_bytes'] / MIB:.2f} "
        f"MiB, file at most {summary['wal_max_bytes'] / MIB:.2f} MiB"
    )
    for name, ok in summary["checks"].items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(f"verdict: {summary['verdict']}")


# -- main -----------------------------------------------------------------------------------------


def fresh_workdir(
    tmp: Path, agencies: tuple[AgencySpec, ...], port: int, processes: int, backend: dict[str, str]
) -> Workdir:
    """The workdir with an empty data directory on the given backends."""
    shutil.rmtree(tmp / "data", ignore_errors=True)
    return create_workdir(tmp, agencies, port=port, ingest_processes=processes, **backend)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="sampled duration")
    parser.add_argument("--rate", type=float, default=None, help="packages/s (default: measured)")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured capacity")
    parser.add_argument("--capacity-packages", type=int, default=600)
    parser.add_argument("--capacity-concurrency", type=int, default=64)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--wal-poll", type=float, default=20.0, help="WAL index reads per second")
    parser.add_argument("--warmup-seconds", type=float, default=30.0)
    parser.add_argument("--drain-seconds", type=float, default=120.0)
    parser.add_argument("--max-inflight", type=int, default=256)
    parser.add_argument(
        "--pull-parallel",
        type=int,
        default=4,
        help="fetch+ack at once per pull agency (--pull-mode single)",
    )
    parser.add_argument(
        "--pull-mode",
        choices=PULL_MODES,
        default="batch",
        help="pull agencies take batches (fetch + ack of up to 100 at once) or one by one",
    )
    parser.add_argument("--size", type=int, default=20_000, help="package size in bytes")
    parser.add_argument("--processes", type=int, default=0, help="[ingest] processes (0: per core)")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--broker", choices=("local", "rabbitmq"), default="local")
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--broker-url", default=None)
    parser.add_argument("--workers", type=int, default=1, help="hub serve --workers N")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    args = parser.parse_args()
    seconds = 60.0 * args.minutes
    if seconds < 3 * args.interval:
        parser.error("--minutes must cover at least three --interval samples")

    tmp = Path(tempfile.mkdtemp(prefix="hub-soak-"))
    port = free_port()
    agencies = tuple(AgencySpec(a.organ_id, a.name) for a in DEFAULT_AGENCIES)  # all pull
    print(f"workdir {tmp}", flush=True)
    capacity: dict[str, Any] | None = None
    rate = args.rate
    if rate is None:
        backend = prepare("cap", args.store, args.broker, args.store_url, args.broker_url)
        try:
            wd = fresh_workdir(tmp, agencies, port, args.processes, backend)
            packages = make_packages(wd, args.capacity_packages + 40, args.size, args.seed)
            n, c = args.capacity_packages, args.capacity_concurrency
            print(f"capacity: {n} packages, {c} clients …", flush=True)
            capacity = asyncio.run(
                http_run(
                    wd,
                    port,
                    packages,
                    40,
                    args.capacity_concurrency,
                    args.workers,
                    pull_mode=args.pull_mode,
                )
            )
        finally:
            cleanup(backend)
        rate = capacity["accepted_per_s"] * args.fraction
        print(
            f"capacity {capacity['accepted_per_s']:.1f} accepted/s → offered rate {rate:.1f}/s",
            flush=True,
        )

    backend = prepare("soak", args.store, args.broker, args.store_url, args.broker_url)
    postgres: dict[str, Any] = {}
    try:
        wd = fresh_workdir(tmp, agencies, port, args.processes, backend)
        settings = load_config(wd.config_dir).settings
        probe = QueueProbe(
            sqlite_path=settings.sqlite_path,
            store=args.store,
            store_url=backend.get("store_url"),
            schema=backend.get("store_schema"),
            rabbit_vhost=(
                backend["broker_url"].rsplit("/", 1)[-1] or "/"
                if args.broker == "rabbitmq" and shutil.which("rabbitmqctl")
                else None
            ),
        )
        print(
            f"soak: {args.minutes:g} min at {rate:.1f} packages/s (+{args.warmup_seconds:g} s "
            f"warm-up), {args.store} + {args.broker}, a sample every {args.interval:g} s",
            flush=True,
        )
        if probe.postgres_tables().get("autovacuum") == "off":
            print(
                "warning: this PostgreSQL server runs without autovacuum: dead row versions "
                "accumulate (see the tables after the run); not a production server's figures",
                flush=True,
            )
        run = asyncio.run(
            soak(
                wd,
                port,
                probe,
                rate=rate,
                seconds=seconds,
                warmup=args.warmup_seconds,
                interval=args.interval,
                size=args.size,
                seed=args.seed,
                workers=args.workers,
                max_inflight=args.max_inflight,
                drain_seconds=args.drain_seconds,
                pull_parallel=args.pull_parallel,
                pull_mode=args.pull_mode,
                wal_poll=args.wal_poll,
            )
        )
        postgres = probe.postgres_tables()  # before cleanup drops the schema
    finally:
        cleanup(backend)
    summary = summarise(run, rate, seconds, args.interval)
    print_summary(summary, run, rate)
    if postgres:
        print(
            f"\nPostgreSQL (autovacuum {postgres['autovacuum']}), the hub's tables after the run:"
        )
        for name, t in sorted(postgres["tables"].items(), key=lambda kv: -kv[1]["bytes"]):
            if t["bytes"] >= MIB:
                print(
                    f"  {name:<18} {t['bytes'] / MIB:9.1f} MiB  {t['live_rows']:>10,} live  "
                    f"{t['dead_rows']:>10,} dead rows"
                )
    result = {
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "capacity": capacity,
        "rate": rate,
        "run": {k: v for k, v in run.items() if k not in ("samples", "after_drain")},
        "after_drain": run["after_drain"].as_json(),
        "postgres": postgres,
        "summary": summary,
        "samples": [s.as_json() for s in run["samples"]],
    }
    # The summary as JSON on stdout; the samples too in --json FILE.
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json} (with every sample)", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
