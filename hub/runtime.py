"""Assembling a running hub from its configuration: one async context manager.

``async with Runtime(config) as rt:`` opens the store and the broker, applies the runtime
agency overrides, starts the verification workers, re-publishes deliveries a crash left
unconfirmed, and starts the dispatcher. Leaving it stops everything in reverse order, letting
in-flight work finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from types import TracebackType

from hub.aio import cancel_and_wait
from hub.audit.chain import AuditChain
from hub.audit.service import Checkpointer, purge
from hub.audit.settings import load_audit_settings
from hub.audit.tsa import TsaClient
from hub.broker import Broker
from hub.broker.local import LocalBroker
from hub.broker.rabbitmq import RabbitBroker
from hub.config import HubConfig
from hub.delivery import Dispatcher
from hub.directory import Directory
from hub.errors import ConfigError, Unavailable
from hub.lifecycle.alarms import AlarmEvaluator
from hub.lifecycle.config import load_lifecycle
from hub.lifecycle.engine import Lifecycle
from hub.lifecycle.notify import Notifier, WebhookNotifier
from hub.metrics import REVOCATION_FETCHES
from hub.models import AgencyOverride
from hub.pipeline.accept import AcceptGroups
from hub.pipeline.checks import CheckOptions, trust_store_for
from hub.pipeline.executor import CheckExecutor, ReceiptKeys
from hub.pipeline.ingest import Ingestor
from hub.pipeline.relay import OutboxRelay
from hub.receipts import ReceiptSigner
from hub.registry import Registry
from hub.revinfo import RevocationService
from hub.storage_crypto import load_blob_cipher
from hub.store import Store
from hub.store.settling import GroupSettler
from hub.store.sqlite import SqliteStore
from signing import TrustStore
from signing.online import FetchEvent

log = logging.getLogger("hub.runtime")

REVOCATION_REFRESH_SECONDS = 300.0  # CRLs are re-fetched within an hour of nextUpdate


def make_store(config: HubConfig) -> Store:
    """The configured store: SQLite (embedded default) or PostgreSQL (scale-out), with
    encryption at rest of package bytes when ``[storage] encryption_key_file`` is set."""
    store = _make_store(config)
    store.blob_cipher = load_blob_cipher(config.settings.config_dir)
    return store


def _make_store(config: HubConfig) -> Store:
    settings = config.settings
    if settings.store == "sqlite":
        path = settings.sqlite_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path, chainer=AuditChain())
    if settings.store == "postgresql":
        # Imported here: the embedded default must not need the PostgreSQL driver loaded.
        from hub.store.postgres import PostgresStore

        if not settings.store_url:
            raise ConfigError("store = postgresql needs [store] url (or HUB_STORE_URL)")
        try:
            return PostgresStore(
                settings.store_url,
                schema=settings.store_schema,
                min_size=settings.store_pool_min,
                max_size=settings.store_pool_max,
                chainer=AuditChain(),
            )
        except ValueError as exc:  # bad schema name or pool sizes
            raise ConfigError(f"[store]: {exc}") from exc
    raise ConfigError(f"store = {settings.store} is not available in this build")


def make_broker(config: HubConfig) -> Broker:
    """The configured broker: embedded (SQLite) or RabbitMQ."""
    delivery = config.settings.delivery
    if config.settings.broker == "local":
        return LocalBroker(
            config.settings.sqlite_path,
            retry_delays=delivery.retry_delays,
            lease_seconds=delivery.lease_seconds,
        )
    if not config.settings.broker_url:
        raise ConfigError("broker = rabbitmq needs broker.url (or HUB_BROKER_URL)")
    # Every configured agency's queues are declared at start, so a consumer of all agencies
    # (the dispatcher) sees work published by other hub processes too.
    return RabbitBroker(
        config.settings.broker_url,
        retry_delays=delivery.retry_delays,
        lease_seconds=delivery.lease_seconds,
        agencies=tuple(config.agencies),
        connection_name=f"{config.settings.hub_id}-{os.getpid()}",
    )


class Runtime:
    """Every long-lived part of a hub process."""

    def __init__(
        self,
        config: HubConfig,
        *,
        dispatch: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        republish_interval: float = 30.0,
        overrides_interval: float = 2.0,
        alarms: bool = True,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.registry = Registry(
            config.agencies, allow_legacy=config.settings.allow_legacy_signatures
        )
        self.store = make_store(config)
        #: the agency directory (issue 11): registry and stored entries, for the API, the
        #: dashboard and the VXP directory calls alike
        self.directory = Directory(self.store, self.registry)
        # Lifecycles and SLA alarms (issue 5): procedures.toml, holidays.toml, [lifecycle].
        self.lifecycle_settings = load_lifecycle(config.settings.config_dir)
        self.lifecycle = Lifecycle(self.lifecycle_settings, self.store)
        ls = self.lifecycle_settings
        if notifier is None and ls.webhook_url and ls.webhook_secret_file is not None:
            notifier = WebhookNotifier.from_file(ls.webhook_url, ls.webhook_secret_file)
        self.alarms: AlarmEvaluator | None = (
            AlarmEvaluator(
                store=self.store,
                settings=ls,
                agencies=lambda: [a.organ_id for a in self.registry.all() if a.enabled],
                clock=clock,
                notifier=notifier,
            )
            if alarms
            else None
        )
        self.broker = make_broker(config)
        self.signer = ReceiptSigner.from_files(
            config.settings.receipt_key,
            config.settings.receipt_cert,
            config.settings.receipt_rotation,
            clock=clock,
        )
        self.audit_settings = load_audit_settings(config.settings.config_dir)
        self.checkpointer = Checkpointer(
            self.store,
            self.signer,
            config.settings.hub_id,
            self.audit_settings.checkpoint_interval,
            clock,
            tsa=TsaClient(self.audit_settings.tsa_url) if self.audit_settings.tsa_url else None,
        )
        self.executor = CheckExecutor(
            CheckOptions(
                max_size=config.settings.max_package_bytes,
                max_depth=config.settings.max_xml_depth,
                trust_anchors=config.settings.trust_anchors,
                allow_legacy=config.settings.allow_legacy_signatures,
                trust_dir=config.settings.trust_dir,
                crl_files=config.settings.crl_files,
                ocsp_files=config.settings.ocsp_files,
                revocation=config.settings.revocation,
                fetch_online=config.settings.fetch_online,
                fetch_timeout=config.settings.fetch_timeout,
                revocation_cache_dir=(
                    config.settings.data_dir / "revocation-cache"
                    if config.settings.fetch_online
                    else None
                ),
                pdf_policy=config.settings.pdf_policy,
                pdf_default=config.settings.pdf_default,
            ),
            processes=config.settings.ingest_processes,
            # The workers sign receipts with these keys; inline (processes=-1) or without a
            # pool, this signer does (hub.pipeline.executor).
            signer=self.signer,
            receipts=ReceiptKeys(
                config.settings.receipt_key,
                config.settings.receipt_cert,
                tuple(config.settings.receipt_rotation),
            ),
            routes=config.routes,
        )
        # One accept transaction and one receipt-signing call per group of submissions.
        self.groups = AcceptGroups(
            self.store, self.executor.sign_receipts, max_batch=config.settings.ingest_batch
        )
        # Push deliveries leave the outbox (pending rows) for the broker after their commit.
        self.relay = OutboxRelay(self.broker, self.store, clock=clock)
        # Fetches, acks, VXP status updates and the dispatcher's settles, grouped.
        self.settler = GroupSettler(self.store)
        # Online revocation (issue 14): the shared cache's refresh, metrics and alarm.
        self.revocation: RevocationService | None = (
            RevocationService(
                self.store.revocation_cache(),
                config.settings.data_dir / "revocation-cache",
                fetch_timeout=config.settings.fetch_timeout,
                clock=clock,
            )
            if config.settings.fetch_online
            else None
        )
        self.ingestor = Ingestor(
            config=config,
            registry=self.registry,
            store=self.store,
            groups=self.groups,
            relay=self.relay,
            executor=self.executor,
            clock=clock,
            lifecycle=self.lifecycle,
            revocation=self.revocation,
        )
        self.dispatcher: Dispatcher | None = (
            Dispatcher(
                store=self.store,
                broker=self.broker,
                registry=self.registry,
                settings=config.settings.delivery,
                settler=self.settler,
                clock=clock,
            )
            if dispatch
            else None
        )
        self.clock = clock
        self.started_at = clock()
        self._republish_interval = republish_interval
        self._overrides_interval = overrides_interval
        self.overrides = FreshOverrides(self.store.agency_overrides, self.registry)
        self._stack = AsyncExitStack()
        self._ack_trust: TrustStore | None = None

    async def __aenter__(self) -> Runtime:
        try:
            await self._stack.enter_async_context(self.store)
            await self._stack.enter_async_context(self.broker)
            self.registry.apply(await self.store.agency_overrides())
            await self._stack.enter_async_context(self.executor)
            # The relay before the groups: at shutdown the last groups commit, then the relay
            # publishes what they left in the outbox.
            await self._stack.enter_async_context(self.relay)
            await self._stack.enter_async_context(self.groups)
            await self._stack.enter_async_context(self.settler)
            # Signed audit checkpoints every interval and once more at shutdown (the stack
            # unwinds in reverse, so the last one is written before the store closes).
            await self._stack.enter_async_context(self.checkpointer)
            try:
                n = await self.ingestor.republish_pending()
                if n:
                    log.info("re-published %d unconfirmed deliveries", n)
            except Exception as exc:  # the periodic loop retries
                log.warning("could not re-publish pending deliveries yet: %s", exc)
            loops = [
                (self._republish_loop, "hub-republish"),
                (self._overrides_loop, "hub-overrides"),
            ]
            if self.audit_settings.purge_interval > 0 and self.audit_settings.package_days > 0:
                loops.append((self._purge_loop, "hub-retention"))
            if self.revocation is not None:
                loops.append((self._revocation_loop, "hub-revocation"))
            for loop_fn, name in loops:
                task = asyncio.create_task(loop_fn(), name=name)
                self._stack.push_async_callback(cancel_and_wait, task)
            if self.dispatcher is not None:
                await self._stack.enter_async_context(self.dispatcher)
            if self.alarms is not None:
                await self._stack.enter_async_context(self.alarms)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Bounded: a broker or database that stopped answering must not keep a stopping hub
        # (or the demo, or a test) alive for minutes. Past the limit the remaining resources
        # are abandoned to the process's exit.
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await self._stack.aclose()
        except TimeoutError:
            log.error(
                "shutdown did not finish within %.0f s; stopping anyway (some connections "
                "may not have been closed cleanly)",
                SHUTDOWN_SECONDS,
            )

    async def _republish_loop(self) -> None:
        # Outbox rows left pending by a crashed process (or another worker's stopped relay):
        # the relay takes those older than its min_age that it does not hold itself.
        while True:
            await asyncio.sleep(self._republish_interval)
            try:
                await self.relay.sweep()
            except Exception as exc:
                log.warning("re-publishing pending deliveries failed: %s", exc)

    def ack_trust(self) -> TrustStore:
        """The packages' trust store, for signed acknowledgements (built on first use; fetch
        attempts made for acks are counted in the metrics)."""
        if self._ack_trust is None:
            self._ack_trust = trust_store_for(self.executor.options, reporter=_count_fetch)
        return self._ack_trust

    async def _revocation_loop(self) -> None:
        # Keep the shared revocation cache ahead of nextUpdate so the accept path rarely
        # fetches; first run right away (loads the store's cache into this host's directory).
        assert self.revocation is not None
        while True:
            try:
                await self.revocation.run_once()
            except Exception as exc:
                log.warning("revocation cache refresh failed: %s", exc)
            await asyncio.sleep(REVOCATION_REFRESH_SECONDS)

    async def _overrides_loop(self) -> None:
        # Operators change agencies from another process (``hub agency disable``) or another
        # worker; every process picks the change up from the shared store within seconds.
        while True:
            await asyncio.sleep(self._overrides_interval)
            try:
                await self.overrides.sync()
            except Exception as exc:
                log.warning("reloading agency overrides failed: %s", exc)

    async def _purge_loop(self) -> None:
        # The retention policy applies itself (Decree 13/2023: personal data is not kept
        # longer than needed), without relying on someone scheduling ``hub audit purge``.
        # Every worker runs it; a package purged by another is no longer a candidate, and
        # the purge itself is a guarded UPDATE, so concurrent runs purge each package once.
        # The first run waits a little (at most a minute) so start-up is not slowed down; so
        # does the run after one that stopped at its cap (a backlog, or retention just turned
        # on): a run is bounded, the backlog is worked through run after run.
        settings = self.audit_settings
        soon = min(settings.purge_interval, 60.0)
        delay = soon
        while True:
            await asyncio.sleep(delay)
            delay = settings.purge_interval
            try:
                run = await purge(
                    self.store,
                    package_days=settings.package_days,
                    purge_unacked=settings.purge_unacked,
                    actor="retention schedule",
                    now=self.clock(),
                )
                if run.purged:
                    log.info("retention purge: %d package(s)", len(run.purged))
                if run.capped:
                    delay = soon
            except Exception as exc:  # the next run retries
                log.warning("retention purge failed: %s", exc)


SHUTDOWN_SECONDS = 30.0
"""How long :meth:`Runtime.__aexit__` waits for its parts to close."""


class FreshOverrides:
    """Keeps a :class:`Registry` up to date with the store's agency overrides, so that a change
    an operator made (``hub agency disable``, ``rotate-token``, ``set-profile``, from any
    process) applies to the very next request on every worker.

    :meth:`sync` returns once a read of the overrides that *started after the call* has been
    applied. Concurrent callers share one read (one store round trip per burst of requests,
    not one each), but never a read that started before them: it could predate a change that
    committed before their request arrived. The registry is re-indexed only when the overrides
    differ from the last ones applied.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[Sequence[AgencyOverride]]],
        registry: Registry,
    ) -> None:
        self._load = load
        self._registry = registry
        self._started = 0  # reads started so far; the current one is number ``_started``
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[AgencyOverride, ...] | None = None

    async def sync(self) -> None:
        """Apply the overrides as the store holds them now (see the class docstring)."""
        wanted = self._started + 1  # the first read that starts after this moment
        while True:
            if self._task is None or self._task.done():
                self._started += 1
                self._task = asyncio.create_task(self._read(), name="hub-overrides-read")
            number, task = self._started, self._task
            # shield: one caller cancelled (client gone) must not cancel the others' read
            await asyncio.shield(task)
            if number >= wanted:
                return

    async def _read(self) -> None:
        try:
            overrides = tuple(await self._load())
        except Exception as exc:
            # Fail closed: without the overrides a disabled agency or a rotated token could
            # pass. The request is answered 503 (the store is down: little else works).
            raise Unavailable(f"agency overrides cannot be read: {exc}") from exc
        if overrides != self._last:
            self._registry.reload(overrides)
            self._last = overrides


def _count_fetch(event: FetchEvent) -> None:
    REVOCATION_FETCHES.labels(event.kind, "ok" if event.ok else "failed").inc()
