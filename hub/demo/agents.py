"""The simulated agencies of ``hub demo``.

What they plan to send (deterministic from the seed), how they sign and submit, how pull
agencies poll their inbox and push agencies receive, how recipients answer with status
packages, and the :class:`Ledger` of everything they observed. The ledger is the client-side
truth the self-check compares with the hub's own records.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.client import HubClient, HubProblem, InboxPackage
from hub.demo.factory import Signer, document, status, vn_now
from hub.demo.workdir import DEFAULT_AGENCIES, AgencySpec, Workdir
from hub.edxml import Organ
from hub.webhook_signature import SIGNATURE_HEADER, verify_push_signature
from signing.pki import load_certificates, load_private_key

G22 = "000.00.00.G22"  # Văn phòng Chính phủ
H41 = "000.00.00.H41"  # UBND Tỉnh Nghệ An
H41_HOME = "000.00.01.H41"  # its Department of Home Affairs: routes.toml copies G22 → H41 here
G12 = "000.00.00.G12"  # the push agency
COMMUNE = "002.00.20.H13"  # From of both malformed SDK samples
#: Hà Nội runs the dossier flow (hub.demo.dossiers): its inbox belongs to its one-stop
#: system's connector, so the document stream leaves it out.
DOSSIER_PROVINCE = "000.00.00.H29"

#: The default agencies plus the other well-formed OrganIds of the SDK samples
#: (the malformed ones name a commune and a test centre).
EXTRA_AGENCIES: tuple[AgencySpec, ...] = (
    AgencySpec(COMMUNE, "UBND xã Hòa Tiến - UBND huyện Hòa Vang"),
    AgencySpec("000.00.15.H51", "Trung tâm Công nghệ thông tin và Truyền thông"),
)

#: Who sends documents, and how often (the Government Office writes most).
SENDER_WEIGHTS: dict[str, int] = {
    G22: 30,
    H41: 12,
    "000.00.00.H29": 14,
    "000.00.00.G17": 10,
    G12: 10,
    "000.00.00.H12": 8,
    "000.00.00.H14": 6,
    H41_HOME: 5,
    COMMUNE: 5,
}

#: Status chains recipients answer a new document with, and their weights: most finish,
#: some stop at "accepted and registered", some reject.
CHAINS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("01", "03", "05", "06"), 65),
    (("01", "03"), 25),
    (("01", "02"), 10),
)


def demo_agencies(push_url: str) -> tuple[AgencySpec, ...]:
    """Every agency of the document stream, the push agency pointed at ``push_url``."""
    specs = [
        AgencySpec(a.organ_id, a.name, delivery="push", push_url=push_url)
        if a.organ_id == G12
        else a
        for a in DEFAULT_AGENCIES
        if a.organ_id != DOSSIER_PROVINCE
    ]
    return (*specs, *EXTRA_AGENCIES)


def load_signer(workdir: Workdir, spec: AgencySpec) -> Signer:
    """The agency's signing identity, from its key and certificate in the workdir."""
    issued = workdir.agencies[spec.organ_id]
    key = load_private_key(issued.key_path)
    return Signer(
        organ_id=spec.organ_id,
        name=spec.name,
        key=key,
        certificate=load_certificates(issued.cert_path)[0],
    )


def routed_recipients(sender: str, to: Sequence[str]) -> tuple[str, ...]:
    """The recipients the hub must choose: ``To`` plus the copy rule the demo's routes.toml
    holds (G22 → H41 is copied to H41's Department of Home Affairs)."""
    recipients = list(to)
    if sender == G22 and H41 in to and H41_HOME not in recipients:
        recipients.append(H41_HOME)
    return tuple(r for r in recipients if r != sender)


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocPlan:
    """One document an agency will sign and send."""

    number: int
    sender: str
    to: tuple[str, ...]
    recipients: tuple[str, ...]
    attachments: int
    attachment_size: int
    seed: int
    business_doc_type: int = 0  # 0 new, 1 revocation, 2 update
    original: int | None = None  # the number of the document an update/revocation references
    replies: tuple[tuple[str, tuple[str, ...]], ...] = ()  # recipient → status codes
    resend: bool = False  # submit the identical bytes again (as after a lost receipt)

    def replies_of(self, recipient: str) -> tuple[str, ...]:
        """The status codes ``recipient`` answers this document with."""
        return dict(self.replies).get(recipient, ())


def make_plan(documents: int, agencies: Sequence[str], seed: int) -> list[DocPlan]:
    """``documents`` documents: new ones to 1–4 recipients each, then updates (about one in
    twenty) and revocations (about one in twenty-five) of earlier ones, placed later in the
    stream than what they reference."""
    rng = random.Random(seed)
    updates = documents // 20 if documents >= 6 else 0
    revocations = max(1, documents // 25) if documents >= 6 else 0
    new = documents - updates - revocations
    senders = [a for a in SENDER_WEIGHTS if a in agencies]
    weights = [SENDER_WEIGHTS[a] for a in senders]
    plan: list[DocPlan] = []
    for number in range(1, new + 1):
        sender = rng.choices(senders, weights)[0]
        others = [a for a in agencies if a != sender]
        to = tuple(rng.sample(others, min(rng.choice((1, 1, 2, 2, 3, 4)), len(others))))
        if sender == G22 and rng.random() < 0.5 and H41 not in to:
            to = (H41, *to[:3])  # the Government Office writes to Nghệ An often: copies show
        recipients = routed_recipients(sender, to)
        chains = [c for c, _ in CHAINS]
        chain_weights = [w for _, w in CHAINS]
        replies = tuple((r, rng.choices(chains, chain_weights)[0]) for r in recipients)
        plan.append(
            DocPlan(
                number=number,
                sender=sender,
                to=to,
                recipients=recipients,
                attachments=rng.choice((1, 1, 2, 3)),
                attachment_size=rng.randrange(3_000, 40_000),
                seed=rng.randrange(2**32),
                replies=replies,
                resend=number % 25 == 7,
            )
        )
    originals = list(plan)
    for i, doc_type in enumerate([2] * updates + [1] * revocations):
        original = rng.choice(originals)
        originals.remove(original)  # one change per document keeps the story readable
        replies = tuple((r, (rng.choices(("15", "16"), (85, 15))[0],)) for r in original.recipients)
        change = DocPlan(
            number=new + i + 1,
            sender=original.sender,
            to=original.to,
            recipients=original.recipients,
            attachments=1,
            attachment_size=5_000,
            seed=rng.randrange(2**32),
            business_doc_type=doc_type,
            original=original.number,
            replies=replies,
        )
        # Somewhere after its original, so agencies mostly see the original first.
        at = rng.randrange(plan.index(original) + 1, len(plan) + 1)
        plan.insert(at, change)
    return plan


def planned_totals(plan: Sequence[DocPlan]) -> tuple[int, int]:
    """(packages to be accepted, deliveries to be made) if everything goes as planned."""
    packages = deliveries = 0
    for doc in plan:
        packages += 1
        deliveries += len(doc.recipients)
        for recipient in doc.recipients:
            codes = doc.replies_of(recipient)
            packages += len(codes)
            deliveries += len(codes)  # each status goes to the document's sender only
    return packages, deliveries


# -- the ledger ------------------------------------------------------------------------------


@dataclass
class Sent:
    """A package an agency signed and submitted, and what happened to it."""

    sha256: str
    sender: str
    kind: str  # document | status
    document_id: str  # its own DocumentId, or for a status the one it answers
    data: bytes
    expected_recipients: tuple[str, ...]
    business_doc_type: int | None = None
    status_code: str | None = None
    plan: DocPlan | None = None
    when: datetime | None = None
    package_id: str | None = None
    created: bool = False
    receipt: bytes = b""
    recipients: tuple[str, ...] = ()  # as the receipt states them
    refused: str | None = None  # a code, if the hub refused what should have been accepted
    received: Counter[str] = field(default_factory=Counter)  # recipient → identical copies
    received_ids: dict[str, set[str]] = field(default_factory=dict)
    pulled: set[str] = field(default_factory=set)
    pushed: set[str] = field(default_factory=set)
    acks_first: Counter[str] = field(default_factory=Counter)  # already_acked False answers
    acks_again: Counter[str] = field(default_factory=Counter)  # already_acked True answers
    accepted: asyncio.Event = field(default_factory=asyncio.Event)

    def done(self) -> bool:
        """Every recipient got it and acknowledged it (push: the 2xx answer is the ack)."""
        return all(r in self.pushed or self.acks_first[r] >= 1 for r in self.recipients)


@dataclass
class PushStats:
    """What the push receiver saw."""

    calls: int = 0
    refused_503: int = 0
    bad_signature: int = 0
    redeliveries: int = 0
    delivered: int = 0


@dataclass
class Repeat:
    """An identical resubmission and the hub's answer."""

    sender: str
    package_id: str | None
    again_id: str | None
    created: bool | None
    same_receipt: bool
    error: str | None = None


Advance = Callable[[str, int], None]

#: How often an agency resubmits the same bytes after ``503 hub.unavailable``.
UNAVAILABLE_RETRIES = 5


def _no_progress(task: str, n: int) -> None:
    """Used when nobody watches."""


def picked(package_id: str, one_in: int) -> bool:
    """Whether ``package_id`` is among a deterministic ``1/one_in`` of packages: by a hash of
    the whole id, since an id's leading digits are its acceptance time (UUIDv7), the same for
    every package of a demo run."""
    return int(hashlib.sha256(package_id.encode()).hexdigest()[:8], 16) % one_in == 0


@dataclass
class Ledger:
    """Every package the agencies sent and everything they observed, client side."""

    by_sha: dict[str, Sent] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    documents: dict[int, Sent] = field(default_factory=dict)  # plan number → document
    repeats: list[Repeat] = field(default_factory=list)
    acks_repeated: int = 0  # acks sent a second time on purpose (idempotency)
    unavailable: list[str] = field(default_factory=list)  # 503 answers, each then retried
    anomalies: list[str] = field(default_factory=list)
    push: PushStats = field(default_factory=PushStats)
    advance: Advance = _no_progress
    stream_bytes: int = 0
    first_submit: float | None = None
    last_accept: float | None = None

    def expect(self, sent: Sent) -> None:
        """Register a package before it is submitted (a recipient may see it before the
        sender reads the receipt)."""
        self.by_sha[sent.sha256] = sent
        self.sent.append(sent)

    def accepted(self) -> list[Sent]:
        """Packages the hub accepted (newly)."""
        return [s for s in self.sent if s.created]

    def received(self, recipient: str, package_id: str, data: bytes, via: str) -> Sent | None:
        """A recipient got ``data`` as ``package_id``; returns the package on its first copy
        for that recipient, ``None`` for an anomaly or a repeated copy."""
        sent = self.by_sha.get(hashlib.sha256(data).hexdigest())
        if sent is None:
            self.anomalies.append(f"{recipient} got {package_id} ({via}): bytes nobody sent")
            return None
        if recipient not in sent.expected_recipients:
            self.anomalies.append(f"{recipient} got {package_id} ({via}), not meant for it")
        sent.received[recipient] += 1
        sent.received_ids.setdefault(recipient, set()).add(package_id)
        (sent.pulled if via == "pull" else sent.pushed).add(recipient)
        return sent if sent.received[recipient] == 1 else None

    def all_done(self) -> bool:
        """Every accepted package reached and was acknowledged by every recipient."""
        return all(s.done() for s in self.accepted())


# -- sending ---------------------------------------------------------------------------------


class Agencies:
    """The simulated agencies: identities, clients, and what they do."""

    def __init__(
        self, workdir: Workdir, specs: Sequence[AgencySpec], base_url: str, ledger: Ledger
    ) -> None:
        self.workdir = workdir
        self.specs = {s.organ_id: s for s in specs}
        self.signers = {s.organ_id: load_signer(workdir, s) for s in specs}
        self.clients = {s.organ_id: HubClient(base_url, workdir.token(s.organ_id)) for s in specs}
        self.ledger = ledger
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Agencies:
        for client in self.clients.values():
            await client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients.values():
            await client.__aexit__(None, None, None)

    def organ(self, organ_id: str) -> Organ:
        """An addressee as edXML names it."""
        spec = self.specs[organ_id]
        return Organ(organ_id=organ_id, organ_name=spec.name, organization_in_charge=spec.name)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; :meth:`settle` waits for all of them."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle(self) -> None:
        """Wait until no background work (answers, reply chains) is left."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=False)

    async def submit(self, sent: Sent) -> None:
        """Submit as the package's sender; record the receipt or the refusal."""
        ledger = self.ledger
        ledger.expect(sent)
        loop = asyncio.get_running_loop()
        if ledger.first_submit is None:
            ledger.first_submit = loop.time()
        unavailable = 0
        while True:
            try:
                result = await self.clients[sent.sender].submit(sent.data)
            except HubProblem as exc:
                # 503 hub.unavailable is the hub's "not confirmed, send the same bytes again"
                # (docs/architecture.md); a real agency retries, and so do these.
                if exc.code == "hub.unavailable" and unavailable < UNAVAILABLE_RETRIES:
                    unavailable += 1
                    ledger.unavailable.append(f"{sent.sender}: {exc.detail}")
                    await asyncio.sleep(0.05 * 2**unavailable)
                    continue
                sent.refused = exc.code
                ledger.anomalies.append(
                    f"{sent.sender}'s {sent.kind} {sent.document_id} was refused: {exc}"
                )
                sent.accepted.set()
                return
            break
        # After a 503 the first attempt may have been committed: then the retry is answered
        # 200 with that attempt's receipt, which is the contract, not a duplicate.
        sent.package_id, sent.created = result.package_id, result.created or unavailable > 0
        sent.receipt, sent.recipients = result.receipt, result.recipients
        if not sent.created:
            ledger.anomalies.append(
                f"{sent.sender}'s new package {result.package_id} was answered as a repeat"
            )
        if result.recipients != sent.expected_recipients:
            ledger.anomalies.append(
                f"{result.package_id} routed to {result.recipients}, "
                f"expected {sent.expected_recipients}"
            )
        ledger.stream_bytes += len(sent.data)
        ledger.last_accept = loop.time()
        ledger.advance("accepted", 1)
        sent.accepted.set()

    async def resubmit(self, sent: Sent) -> None:
        """The identical bytes again, as a system does when the receipt got lost: the hub
        must answer 200 with the same package id and receipt, and store nothing new."""
        try:
            again = await self.clients[sent.sender].submit(sent.data)
        except HubProblem as exc:
            self.ledger.repeats.append(
                Repeat(sent.sender, sent.package_id, None, None, False, error=exc.code)
            )
            return
        self.ledger.repeats.append(
            Repeat(
                sent.sender,
                sent.package_id,
                again.package_id,
                again.created,
                again.receipt == sent.receipt,
            )
        )

    def build_document(
        self, doc: DocPlan, when: datetime | None = None, attachments: int | None = None
    ) -> tuple[str, bytes, datetime]:
        """Sign ``doc`` as its sender would (``attachments`` overrides the plan: the demo
        uses it to make a conflicting package with the same DocumentId)."""
        when = when or vn_now()
        original = self.ledger.documents.get(doc.original) if doc.original else None
        document_id, data = document(
            self.signers[doc.sender],
            [self.organ(r) for r in doc.to],
            number=doc.number,
            rng=random.Random(doc.seed),
            business_doc_type=doc.business_doc_type,
            original_document_id=original.document_id if original else None,
            attachments=doc.attachments if attachments is None else attachments,
            attachment_size=doc.attachment_size,
            when=when,
        )
        return document_id, data, when

    async def send_document(self, doc: DocPlan) -> None:
        """Sign and submit one planned document (an update or revocation waits until the
        document it references is accepted)."""
        if doc.original is not None:
            original = self.ledger.documents.get(doc.original)
            while original is None:
                await asyncio.sleep(0.01)
                original = self.ledger.documents.get(doc.original)
            await original.accepted.wait()
        document_id, data, when = self.build_document(doc)
        sent = Sent(
            sha256=hashlib.sha256(data).hexdigest(),
            sender=doc.sender,
            kind="document",
            document_id=document_id,
            data=data,
            expected_recipients=doc.recipients,
            business_doc_type=doc.business_doc_type,
            plan=doc,
            when=when,
        )
        self.ledger.documents[doc.number] = sent
        await self.submit(sent)
        if doc.resend and sent.created:
            await self.resubmit(sent)

    async def answer(self, recipient: str, doc: Sent) -> None:
        """``recipient`` answers a document with its planned status chain, in order."""
        assert doc.plan is not None
        for code in doc.plan.replies_of(recipient):
            data = status(
                self.signers[recipient],
                document_author=doc.sender,
                document_id=doc.document_id,
                code=code,
            )
            sent = Sent(
                sha256=hashlib.sha256(data).hexdigest(),
                sender=recipient,
                kind="status",
                document_id=doc.document_id,
                data=data,
                expected_recipients=(doc.sender,),
                status_code=code,
            )
            await self.submit(sent)
            if sent.refused:
                return  # the chain stops, as a clerk's would; the anomaly is recorded

    def on_received(self, recipient: str, sent: Sent) -> None:
        """A recipient has a package for the first time: documents get answered."""
        if sent.kind == "document" and sent.plan is not None:
            self.spawn(self.answer(recipient, sent))

    # -- pull --------------------------------------------------------------------------------

    async def pull(self, organ_id: str, stop: asyncio.Event) -> None:
        """A pull agency's loop: take the waiting packages in batches with their exact bytes
        (walking with the batch cursor from the oldest), check them against what the sender
        signed, acknowledge each batch in one request, answer. Runs until ``stop``."""
        client = self.clients[organ_id]
        while not stop.is_set():
            taken = 0
            try:
                async for batch in client.inbox_batches():
                    taken += len(batch.items)
                    await self._take(organ_id, batch.items)
            except HubProblem as exc:
                self.ledger.anomalies.append(f"{organ_id}: inbox batch failed: {exc}")
                await asyncio.sleep(0.2)
                continue
            if not taken:
                await asyncio.sleep(0.05)

    async def _take(self, organ_id: str, packages: Sequence[InboxPackage]) -> None:
        """One batch of a pull agency: record each package, ack them all at once, answer."""
        client = self.clients[organ_id]
        firsts: list[Sent | None] = []
        for p in packages:
            if hashlib.sha256(p.data).hexdigest() != p.sha256:
                self.ledger.anomalies.append(
                    f"{organ_id}: {p.id} bytes differ from the hub's sha256"
                )
            firsts.append(self.ledger.received(organ_id, p.id, p.data, "pull"))
            self.ledger.advance("delivered", 1)
        answer = await client.ack_batch([p.id for p in packages])
        again: list[tuple[str, Sent]] = []
        for p, sent, acked in zip(packages, firsts, answer["items"], strict=True):
            target = sent or self.ledger.by_sha.get(hashlib.sha256(p.data).hexdigest())
            if target is None:
                continue
            if acked["already_acked"]:
                target.acks_again[organ_id] += 1
            else:
                target.acks_first[organ_id] += 1
                self.ledger.advance("acked", 1)
            if sent is not None:
                # Before any further await: the stream is over only when every package is
                # acked *and* no answer is pending, so the answer must exist by now.
                self.on_received(organ_id, sent)
            # Acks are idempotent: a ninth of the packages, and the first one pulled (so that
            # even a short run repeats one), are acked twice, as a system that lost the first
            # answer would (one by one); the hub must say "already acked".
            if picked(p.id, 9) or not (again or self.ledger.acks_repeated):
                again.append((p.id, target))
        for package_id, target in again:
            self.ledger.acks_repeated += 1
            repeated = await client.ack(package_id)
            if repeated["already_acked"]:
                target.acks_again[organ_id] += 1
            else:
                target.acks_first[organ_id] += 1


# -- push ------------------------------------------------------------------------------------


class PushReceiver:
    """The push agency's endpoint: checks the hub's HMAC with the agency's secret, records
    each ``Hub-Package-Id`` once (repeats are redeliveries, answered 2xx again), and answers
    503 to about a quarter of first attempts — chosen by package id, so it is deterministic —
    so that the hub's retries show."""

    def __init__(self, organ_id: str) -> None:
        self.organ_id = organ_id
        self.secret = b""
        self.agencies: Agencies | None = None
        self.ledger: Ledger | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        """Listen on a free loopback port; returns the push URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/edxml/inbox", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/edxml/inbox"
        return self.url

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def refuses_first(package_id: str) -> bool:
        """The deterministic quarter of packages whose first push attempt gets a 503."""
        return picked(package_id, 4)

    async def handle(self, request: web.Request) -> web.Response:
        """One push from the hub."""
        body = await request.read()
        package_id = request.headers.get("Hub-Package-Id", "")
        ledger = self.ledger
        if ledger is None:
            return web.Response(status=503)
        ledger.push.calls += 1
        if not verify_push_signature(
            self.secret, package_id, request.headers.get(SIGNATURE_HEADER, ""), body
        ):
            ledger.push.bad_signature += 1
            return web.Response(status=401)
        if request.headers.get("Hub-Attempt") == "1" and self.refuses_first(package_id):
            ledger.push.refused_503 += 1
            return web.Response(status=503, text="busy, try later")
        sent = ledger.received(self.organ_id, package_id, body, "push")
        if sent is None:
            ledger.push.redeliveries += 1
            return web.Response(status=204)
        ledger.push.delivered += 1
        ledger.advance("delivered", 1)
        ledger.advance("acked", 1)
        if self.agencies is not None:
            self.agencies.on_received(self.organ_id, sent)
        return web.Response(status=204)


def read_push_secret(workdir: Workdir, organ_id: str) -> bytes:
    """The push agency's HMAC secret as the hub's config holds it."""
    return workdir.push_secret(organ_id)


def shared_testdata() -> Path:
    """``../shared/testdata`` next to the project (real samples, never copied in)."""
    import hub

    return Path(hub.__file__).resolve().parents[2] / "shared" / "testdata"
