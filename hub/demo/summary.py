"""The demo's self-check and summary.

The self-check compares what the simulated agencies observed (the :class:`Ledger`) with what
the hub says through its API (outbox, trace, inbox) and holds in its store; every figure of
the summary is counted from those, never assumed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hub.client import HubClient
from hub.demo.agents import Agencies, Ledger, PushReceiver, Sent
from hub.demo.refusals import Refusals
from hub.receipts import RECEIPT_POLICY, parse_receipt
from hub.store import Store
from signing import TrustStore, verify_enveloped
from signing.errors import SigningError
from signing.pki import load_certificates

DOC_TYPES = {0: "new", 1: "revocation", 2: "update", 3: "replacement"}


@dataclass
class Check:
    """One self-check: what was checked, how many passed of how many."""

    what: str
    passed: int
    total: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.passed == self.total and not self.failures


@dataclass
class HubFacts:
    """What the hub reported through its API and store."""

    stored_packages: int = 0
    outbox_packages: Counter[str] = field(default_factory=Counter)
    delivery_states: Counter[str] = field(default_factory=Counter)
    push_attempts: dict[str, int] = field(default_factory=dict)  # package id → attempts
    statuses_by_document: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    inbox_left: Counter[str] = field(default_factory=Counter)


async def _outbox(client: HubClient) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        page = await client.outbox_page(cursor, limit=500)
        items += page["items"]
        cursor = page["next"]
        if not cursor:
            return items


async def gather_hub_facts(agencies: Agencies, store: Store, push_agency: str) -> HubFacts:
    """Ask the hub, as each agency, what it holds; and the store how much it holds."""
    facts = HubFacts(stored_packages=await store.count_packages())
    for organ_id, client in agencies.clients.items():
        for item in await _outbox(client):
            facts.outbox_packages[organ_id] += 1
            recipients = item["recipients"]
            assert isinstance(recipients, list)
            for d in recipients:
                facts.delivery_states[str(d["state"])] += 1
                if d["organ_id"] == push_agency:
                    facts.push_attempts[str(item["id"])] = int(d["attempts"])
            if item["kind"] == "document" and item["document_id"]:
                trace = await client.trace(str(item["id"]))
                facts.statuses_by_document[(organ_id, str(item["document_id"]))] = [
                    (str(s["from"]), str(s["status_code"])) for s in trace["statuses"]
                ]
        page = await client.inbox_page(limit=1)
        facts.inbox_left[organ_id] = len(page["items"])
    return facts


def self_check(
    ledger: Ledger,
    refusals: Refusals,
    facts: HubFacts,
    *,
    planned_packages: int,
    push_agency: str,
    ca_pem: Path,
    other_packages: int = 0,
) -> list[Check]:
    """Every expectation of the demo, each counted. ``other_packages`` were accepted outside
    the ledger (the dossier flow's connectors) and are in the store too."""
    checks: list[Check] = []
    accepted = ledger.accepted()
    stream = [s for s in accepted if s.kind in ("document", "status")]

    checks.append(
        Check(
            "no anomaly seen by any agency during the stream",
            0 if ledger.anomalies else 1,
            1,
            list(ledger.anomalies),
        )
    )
    checks.append(Check("every planned package accepted", len(stream), planned_packages))

    # Deliveries: exactly once per recipient, exact bytes, acked once.
    total = passed = 0
    failures: list[str] = []
    for s in stream:
        for r in s.recipients:
            total += 1
            if r == push_agency:
                good = r in s.pushed and s.received_ids.get(r) == {s.package_id}
            else:
                good = (
                    s.received[r] == 1
                    and s.acks_first[r] == 1
                    and s.received_ids.get(r) == {s.package_id}
                )
            if good:
                passed += 1
            else:
                failures.append(
                    f"{s.package_id} → {r}: received {s.received[r]}×, "
                    f"acked {s.acks_first[r]}×, ids {s.received_ids.get(r)}"
                )
    checks.append(
        Check(
            "every accepted package reached every recipient exactly once, "
            "identical bytes, acked once",
            passed,
            total,
            failures[:10],
        )
    )

    statuses = [s for s in stream if s.kind == "status"]
    documents = {(s.sender, s.document_id): s for s in stream if s.kind == "document"}
    back = [
        s
        for s in statuses
        if (s.recipients[0], s.document_id) in documents and len(s.recipients) == 1 and s.done()
    ]
    checks.append(
        Check("every status package reached the document's sender", len(back), len(statuses))
    )

    re_acked = sum(sum(s.acks_again.values()) for s in stream)
    checks.append(
        Check(
            "repeated acks answered already_acked (counted once)",
            re_acked,
            ledger.acks_repeated,
            [] if ledger.acks_repeated else ["no ack was repeated: idempotency went unexercised"],
        )
    )

    good_repeats = [
        r
        for r in ledger.repeats
        if r.created is False and r.again_id == r.package_id and r.same_receipt
    ]
    checks.append(
        Check(
            "identical resubmissions answered 200 with the same receipt",
            len(good_repeats),
            len(ledger.repeats),
        )
    )

    bad = [
        f"{o.name}: expected {o.expected_code} ({o.expected_status}), got {o.code} ({o.status})"
        for o in refusals.outcomes
        if not o.ok
    ]
    checks.append(
        Check(
            "every refusal answered with exactly the expected code and status",
            len(refusals.outcomes) - len(bad),
            len(refusals.outcomes),
            bad,
        )
    )

    checks.append(_receipts(accepted, ca_pem))

    checks.append(
        Check(
            f"the store holds exactly the accepted packages ({facts.stored_packages} stored)",
            1 if facts.stored_packages == len(accepted) + other_packages else 0,
            1,
        )
    )
    sent_by = Counter(s.sender for s in accepted)
    mismatched = [
        f"{a}: outbox {facts.outbox_packages[a]}, sent {sent_by[a]}"
        for a in set(sent_by) | set(facts.outbox_packages)
        if facts.outbox_packages[a] != sent_by[a]
    ]
    checks.append(
        Check(
            "each agency's outbox lists exactly what it sent",
            len(set(sent_by) | set(facts.outbox_packages)) - len(mismatched),
            len(set(sent_by) | set(facts.outbox_packages)),
            mismatched,
        )
    )
    n_deliveries = sum(facts.delivery_states.values())
    checks.append(
        Check(
            f"every delivery acked in the hub's records ({dict(facts.delivery_states)})",
            facts.delivery_states["acked"],
            n_deliveries,
        )
    )

    wrong: list[str] = []
    for key, doc in documents.items():
        client_side = sorted(
            (s.sender, s.status_code or "")
            for s in statuses
            if (s.recipients[0], s.document_id) == key
        )
        hub_side = facts.statuses_by_document.get(key)
        if hub_side is None or sorted(hub_side) != client_side:
            wrong.append(f"{doc.package_id}: hub {hub_side}, agencies {client_side}")
        elif not _in_order(hub_side, statuses, key):
            wrong.append(f"{doc.package_id}: statuses out of order {hub_side}")
    checks.append(
        Check(
            "each document's trace lists the statuses sent back, in order",
            len(documents) - len(wrong),
            len(documents),
            wrong[:10],
        )
    )

    pushed = [s for s in stream if push_agency in s.recipients]
    retry_bad = [
        f"{s.package_id}: {facts.push_attempts.get(s.package_id or '')} attempts"
        for s in pushed
        if facts.push_attempts.get(s.package_id or "", 0)
        < (2 if PushReceiver.refuses_first(s.package_id or "") else 1)
    ]
    checks.append(
        Check(
            "push: every 503 retried, HMAC valid on every call",
            len(pushed) - len(retry_bad) - ledger.push.bad_signature,
            len(pushed),
            retry_bad[:10],
        )
    )
    left = {a: n for a, n in facts.inbox_left.items() if n}
    checks.append(
        Check(
            "every inbox empty at the end",
            0 if left else 1,
            1,
            [f"{a}: {n} waiting" for a, n in left.items()],
        )
    )
    return checks


def _in_order(hub_side: list[tuple[str, str]], statuses: list[Sent], key: tuple[str, str]) -> bool:
    """Per responder, the hub accepted the statuses in the order the agency sent them."""
    for responder in {f for f, _ in hub_side}:
        sent = [
            s.status_code
            for s in statuses
            if s.sender == responder and (s.recipients[0], s.document_id) == key
        ]
        if [c for f, c in hub_side if f == responder] != sent:
            return False
    return True


def _receipts(accepted: list[Sent], ca_pem: Path) -> Check:
    """Each receipt verifies, chains to the CA and states the package's facts."""
    trust = TrustStore(load_certificates(ca_pem))
    now = datetime.now(UTC)
    failures: list[str] = []
    for s in accepted:
        try:
            verified = verify_enveloped(s.receipt, RECEIPT_POLICY)
            trust.validate(verified.certificate, at=now)
            facts = parse_receipt(verified.signed_root)
        except (SigningError, ValueError) as exc:
            failures.append(f"{s.package_id}: {exc}")
            continue
        if (facts.package_id, facts.sha256, facts.size, facts.sender) != (
            s.package_id,
            s.sha256,
            len(s.data),
            s.sender,
        ):
            failures.append(f"{s.package_id}: receipt states other facts")
    return Check(
        "every receipt verifies against the CA and states the package's facts",
        len(accepted) - len(failures),
        len(accepted),
        failures[:10],
    )


# -- printing --------------------------------------------------------------------------------


def render(
    out: Console,
    *,
    ledger: Ledger,
    refusals: Refusals,
    facts: HubFacts,
    checks: list[Check],
    agencies: Agencies,
    push_agency: str,
    stream_seconds: float,
    total_seconds: float,
    extra_tables: Sequence[Table] = (),
) -> None:
    """The summary tables (``extra_tables``, e.g. the dossier flow's, before Throughput)."""
    accepted = [s for s in ledger.accepted() if s.kind in ("document", "status")]
    docs = [s for s in accepted if s.kind == "document"]
    statuses = [s for s in accepted if s.kind == "status"]

    t = Table(title="Accepted", title_justify="left")
    t.add_column("kind")
    t.add_column("packages", justify="right")
    t.add_column("MB", justify="right")
    for doc_type, name in DOC_TYPES.items():
        group = [s for s in docs if s.business_doc_type == doc_type]
        if group:
            t.add_row(f"document ({name})", str(len(group)), _mb(group))
    codes = Counter(s.status_code for s in statuses)
    for code in sorted(codes, key=str):
        group = [s for s in statuses if s.status_code == code]
        t.add_row(f"status {code}", str(codes[code]), _mb(group))
    t.add_row("[bold]total[/]", f"[bold]{len(accepted)}[/]", f"[bold]{_mb(accepted)}[/]")
    if ledger.unavailable:
        t.add_row(
            "[yellow]answered 503 hub.unavailable, same bytes resent[/]",
            f"[yellow]{len(ledger.unavailable)}[/]",
            "",
        )
    attachments = sum(s.plan.attachments for s in docs if s.plan is not None)
    t.caption = (
        f"{attachments} attachments; "
        f"{sum(len(s.recipients) for s in docs) / max(len(docs), 1):.1f} recipients "
        f"per document; {len(ledger.repeats)} identical resubmissions answered 200"
    )
    out.print(t)

    pull_delivered = sum(len(s.pulled) for s in accepted)
    push_delivered = sum(len(s.pushed) for s in accepted)
    acked = sum(sum(s.acks_first.values()) for s in accepted) + push_delivered
    again = sum(sum(s.acks_again.values()) for s in accepted)
    retries = sum(max(a - 1, 0) for a in facts.push_attempts.values())
    t = Table(title="Delivered", title_justify="left")
    t.add_column("")
    t.add_column("count", justify="right")
    t.add_row("pulled (inbox → fetch, bytes identical)", str(pull_delivered))
    t.add_row(f"pushed to {push_agency} (HMAC verified)", str(push_delivered))
    t.add_row("acknowledged (first ack; a 2xx push answer is the ack)", str(acked))
    t.add_row("repeated acks answered already_acked", str(again))
    t.add_row("push attempts answered 503 by the receiver", str(ledger.push.refused_503))
    t.add_row("push retries recorded by the hub", str(retries))
    t.add_row(
        "push redeliveries (duplicates de-duplicated by Hub-Package-Id)",
        str(ledger.push.redeliveries),
    )
    out.print(t)

    t = Table(title="Refused (expected vs got)", title_justify="left")
    for col in ("case", "as", "expected", "got", ""):
        t.add_column(col)
    for o in refusals.outcomes:
        t.add_row(
            o.name,
            o.caller,
            f"{o.expected_code} {o.expected_status}",
            f"{o.code} {o.status}",
            "[green]✓[/]" if o.ok else "[red]✗[/]",
        )
    by_code = Counter(o.code for o in refusals.outcomes)
    t.caption = "by code: " + ", ".join(f"{c} {n}" for c, n in sorted(by_code.items()))
    out.print(t)
    for note in refusals.skipped:
        out.print(f"[yellow]skipped:[/] {note}")

    t = Table(title="Per agency", title_justify="left")
    t.add_column("OrganId", no_wrap=True)
    t.add_column("agency", no_wrap=True, max_width=34, overflow="ellipsis")
    t.add_column("delivery")
    for col in ("docs sent", "statuses sent", "docs received", "statuses received"):
        t.add_column(col, justify="right")
    for organ_id, spec in agencies.specs.items():
        t.add_row(
            organ_id,
            spec.name,
            spec.delivery,
            str(sum(1 for s in docs if s.sender == organ_id)),
            str(sum(1 for s in statuses if s.sender == organ_id)),
            str(sum(1 for s in docs if organ_id in s.received)),
            str(sum(1 for s in statuses if organ_id in s.received)),
        )
    out.print(t)

    for table in extra_tables:
        out.print(table)

    mb = ledger.stream_bytes / 1e6
    t = Table(title="Throughput", title_justify="left", show_header=False)
    t.add_column("")
    t.add_column("", justify="right")
    t.add_row("stream (first submission → last acknowledgement)", f"{stream_seconds:.2f} s")
    t.add_row("accepted packages per second", f"{len(accepted) / stream_seconds:.1f}")
    t.add_row("accepted MB per second", f"{mb / stream_seconds:.2f}")
    t.add_row("deliveries per second", f"{(pull_delivered + push_delivered) / stream_seconds:.1f}")
    t.add_row("whole demo (setup, stream, refusals, checks)", f"{total_seconds:.2f} s")
    out.print(t)

    t = Table(title="Self-check", title_justify="left")
    t.add_column("")
    t.add_column("check")
    t.add_column("passed", justify="right")
    for c in checks:
        t.add_row("[green]✓[/]" if c.ok else "[red]✗[/]", c.what, f"{c.passed}/{c.total}")
    out.print(t)
    for c in checks:
        for failure in c.failures:
            out.print(f"[red]✗[/] {c.what}: {failure}")


def _mb(group: list[Sent]) -> str:
    return f"{sum(len(s.data) for s in group) / 1e6:.2f}"
