"""Where the CPU-bound checks run: a process pool (every core) or inline.

Parsing, schema validation and signature verification hold the GIL for most of their time,
so threads would not use the second core; a process pool does. ``processes=-1`` runs the
checks inline on the event loop's thread, which tests and debugging prefer.

Memory (issue 10): a package of :data:`SPOOL_THRESHOLD` bytes or more is handed to the worker
through a temporary file instead of the pickled call. A pickled call is a second copy of the
bytes in the server (the pickle) and two in the worker (the received message and the
unpickled bytes); through a file the worker reads one. Results come back without attachment
contents (:func:`hub.pipeline.checks.without_contents`).

What is fixed for the process's life — the check options, the receipt keys, the copy rules
of ``routes.toml`` the receipt prediction uses — reaches each worker once, when it starts
(:func:`_init_worker`), not pickled with every call: with a hundred copy rules that alone
cost 0.24 ms of CPU per package (0.07 in the server, 0.17 in the worker).

Receipts (issue 12): the workers also hold the receipt key, so signing — about 0.2 ms of
CPU a receipt — runs beside the event loop on the other core instead of on it. A submission's
check signs its receipt in the same call (:meth:`CheckExecutor.check_and_sign`, with the
recipients :func:`hub.pipeline.facts.predicted_facts` expects); a receipt whose facts routing
then changes is signed again with its accept group, which signs every receipt of the group in
one call (:meth:`CheckExecutor.sign_receipts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

from hub.config import RouteRule
from hub.pipeline.checks import (
    LARGE_PACKAGE,
    Checked,
    CheckOptions,
    check_package_for_ingest,
    warm_up,
)
from hub.pipeline.facts import ReceiptDraft, SignedReceipt, predicted_facts
from hub.procpool import ProcessPool
from hub.receipts import ReceiptFacts, ReceiptSigner

log = logging.getLogger("hub.pipeline.executor")

P = ParamSpec("P")
R = TypeVar("R")

SPOOL_THRESHOLD = LARGE_PACKAGE
"""Packages at least this large reach a worker process through a temporary file."""


def _spool(data: bytes) -> Path:
    """Write ``data`` to a new private temporary file (mode 0600) and return its path."""
    fd, name = tempfile.mkstemp(prefix="hub-check-", suffix=".xml")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


@dataclass(frozen=True, slots=True)
class ReceiptKeys:
    """Where the receipt key pairs are (``[hub] receipt_key``, ``receipt_cert``,
    ``receipt_rotation``): what a worker loads to sign receipts."""

    key: Path
    cert: Path
    rotation: tuple[tuple[Path, Path], ...] = ()


@dataclass(frozen=True, slots=True)
class _WorkerState:
    """What a worker process holds for its life (see the module)."""

    options: CheckOptions
    routes: tuple[RouteRule, ...]
    signer: ReceiptSigner | None


_worker: _WorkerState | None = None


def _init_worker(
    options: CheckOptions, receipts: ReceiptKeys | None, routes: tuple[RouteRule, ...]
) -> None:
    """A worker process's start: warm the checks up, load the receipt keys, keep the options
    and the copy rules for every call."""
    global _worker
    warm_up(options)
    signer = (
        None
        if receipts is None
        else ReceiptSigner.from_files(receipts.key, receipts.cert, receipts.rotation)
    )
    _worker = _WorkerState(options, routes, signer)


def _state() -> _WorkerState:
    if _worker is None:  # pragma: no cover - the pool runs _init_worker before any call
        raise RuntimeError("this process is not a check worker")
    return _worker


def sign_receipts_in_worker(facts: Sequence[ReceiptFacts]) -> list[bytes]:
    """Sign a group's receipts in a worker (each with the key valid at its acceptance)."""
    signer = _state().signer
    if signer is None:  # pragma: no cover - the executor only calls it with keys
        raise RuntimeError("this worker holds no receipt key")
    return [signer.sign(f, at=f.accepted_at) for f in facts]


def check_in_worker(
    data: bytes | Path, received_at: datetime, admit_legacy: bool | None
) -> Checked:
    """:func:`check_package_for_ingest` in a worker, with the worker's options."""
    return check_package_for_ingest(data, received_at, _state().options, admit_legacy)


def _sign_predicted(
    checked: Checked,
    draft: ReceiptDraft,
    routes: Sequence[RouteRule],
    sign: Callable[[ReceiptFacts], bytes],
) -> SignedReceipt | None:
    """The receipt ``checked`` gets if routing delivers it as predicted; ``None`` when there is
    no prediction or signing failed (the accept group then signs, and reports a failure)."""
    facts = predicted_facts(checked, draft, routes)
    if facts is None:
        return None
    try:
        return SignedReceipt(facts=facts, receipt=sign(facts))
    except Exception:  # the group's signing raises it again, for the whole group to see
        log.exception("signing a receipt with its check failed; its accept group signs it")
        return None


def check_and_sign_in_worker(
    data: bytes | Path,
    received_at: datetime,
    admit_legacy: bool | None,
    draft: ReceiptDraft,
) -> tuple[Checked, SignedReceipt | None]:
    """Check one package and sign its predicted receipt, in a worker (one round trip)."""
    state = _state()
    checked = check_package_for_ingest(data, received_at, state.options, admit_legacy)
    signer = state.signer
    if signer is None:  # pragma: no cover - the executor only calls it with keys
        return checked, None
    return checked, _sign_predicted(
        checked, draft, state.routes, lambda f: signer.sign(f, at=f.accepted_at)
    )


class CheckExecutor:
    """Runs :func:`check_package` in worker processes; an async context manager.

    ``signer`` signs receipts when there is no pool (``processes=-1``) or no ``receipts``
    keys for the workers; otherwise the workers sign them (:meth:`sign_receipts`). ``routes``:
    the copy rules a receipt signed with its check predicts the recipients with
    (:func:`hub.pipeline.facts.predicted_facts`)."""

    def __init__(
        self,
        options: CheckOptions,
        processes: int = 0,
        *,
        signer: ReceiptSigner | None = None,
        receipts: ReceiptKeys | None = None,
        routes: Sequence[RouteRule] = (),
    ) -> None:
        self.options = options
        self.processes = (os.cpu_count() or 1) if processes == 0 else processes
        self.signer = signer
        self.receipts = receipts
        self.routes = tuple(routes)
        self._pool: ProcessPool | None = None

    async def __aenter__(self) -> CheckExecutor:
        if self.processes > 0:
            # Workers are spawned (not forked), free of the parent's event loop, sockets and
            # SQLite handles; hub.procpool says why not concurrent.futures.
            self._pool = ProcessPool(
                self.processes,
                initializer=_init_worker,
                initargs=(self.options, self.receipts, self.routes),
                name="hub-check",
            )
        else:
            warm_up(self.options)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def check(
        self, data: bytes, received_at: datetime, *, admit_legacy: bool | None = None
    ) -> Checked:
        """Check one package; raises the step's :class:`hub.errors.HubError`.

        ``admit_legacy`` (per call, since agencies' signature profiles change at runtime):
        see :func:`check_package`. The result's package model carries no attachment contents
        (see the module)."""
        if self._pool is None:
            return check_package_for_ingest(data, received_at, self.options, admit_legacy)
        return await self._in_worker(self._pool, check_in_worker, data, received_at, admit_legacy)

    @staticmethod
    async def _in_worker(
        pool: ProcessPool,
        fn: Callable[Concatenate[bytes | Path, P], R],
        data: bytes,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """``fn(data, *args)`` in a worker; a large ``data`` goes as the path of a temporary
        file holding it (see the module)."""
        if len(data) < SPOOL_THRESHOLD:
            return await pool.call(fn, data, *args, **kwargs)
        path = await asyncio.to_thread(_spool, data)
        try:
            return await pool.call(fn, path, *args, **kwargs)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def check_and_sign(
        self,
        data: bytes,
        received_at: datetime,
        draft: ReceiptDraft,
        *,
        admit_legacy: bool | None = None,
    ) -> tuple[Checked, SignedReceipt | None]:
        """:meth:`check`, and the receipt the package gets if routing delivers it to the
        recipients :func:`hub.pipeline.facts.predicted_facts` expects, signed in the same
        worker call; ``None`` in its place when no receipt was signed (no prediction, or no
        signer)."""
        if self._pool is None:
            checked = check_package_for_ingest(data, received_at, self.options, admit_legacy)
            signer = self.signer
            if signer is None:
                return checked, None
            return checked, _sign_predicted(checked, draft, self.routes, signer.sign)
        if self.receipts is None:  # the workers hold no key: the groups sign on this thread
            return await self.check(data, received_at, admit_legacy=admit_legacy), None
        return await self._in_worker(
            self._pool,
            check_and_sign_in_worker,
            data,
            received_at,
            admit_legacy,
            draft,
        )

    async def sign_receipts(self, facts: Sequence[ReceiptFacts]) -> list[bytes]:
        """Sign a group's receipts: in one call to a worker process when the workers hold the
        receipt keys, else with ``signer`` on this thread."""
        if not facts:
            return []
        if self._pool is not None and self.receipts is not None:
            return await self._pool.call(sign_receipts_in_worker, list(facts))
        if self.signer is None:
            raise RuntimeError("CheckExecutor has no receipt signer")
        return [self.signer.sign(f) for f in facts]
