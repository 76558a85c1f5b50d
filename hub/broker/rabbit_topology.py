"""Names and arguments of the RabbitMQ topology the hub declares (see docs/store-and-broker.md).

Everything is derived from a ``prefix`` (default ``hub``), so two hubs — or two test runs — can
share a vhost without seeing each other's work::

    <p>.deliver         direct exchange   routing key = recipient OrganId
      └─ <p>.q.<organ>  quorum queue      the agency's work; dead-letters to <p>.dead
    <p>.dead            direct exchange   routing key = recipient OrganId
      └─ <p>.dlq.<organ> quorum queue     the agency's parked entries (no consumer)
    <p>.retry.<ms>      fanout exchange   one per delay tier
      └─ <p>.retry.<ms> quorum queue      x-message-ttl = ms; dead-letters back to <p>.deliver
                                          with the message's own routing key (the OrganId)

One queue per delay tier, never a per-message TTL: RabbitMQ only expires messages at the head
of a queue, so a 600 s entry would hold back a 1 s entry queued behind it.

Queues that dead-letter use ``x-dead-letter-strategy=at-least-once`` (the quorum queue keeps the
message until the dead-letter target confirmed it); RabbitMQ requires
``x-overflow=reject-publish`` with it and silently falls back to at-most-once otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Headers the hub puts on its messages.
ATTEMPT_HEADER = "x-hub-attempt"
REASON_HEADER = "x-hub-reason"
DEAD_AT_HEADER = "x-hub-dead-at"
FROM_QUEUE_HEADER = "x-hub-from-queue"


def tier_millis(retry_delays: Sequence[float]) -> tuple[int, ...]:
    """The TTL of each tier queue in milliseconds (at least 1: a TTL of 0 means "now")."""
    return tuple(max(1, round(d * 1000)) for d in retry_delays)


@dataclass(frozen=True, slots=True)
class Topology:
    """Exchange and queue names plus declaration arguments for one prefix."""

    prefix: str = "hub"
    delivery_limit: int | None = None

    @property
    def deliver_exchange(self) -> str:
        """Routes work to the recipient's queue by OrganId."""
        return f"{self.prefix}.deliver"

    @property
    def dead_exchange(self) -> str:
        """Routes parked entries to the recipient's DLQ by OrganId."""
        return f"{self.prefix}.dead"

    def work_queue(self, organ_id: str) -> str:
        """The agency's work queue."""
        return f"{self.prefix}.q.{organ_id}"

    def dead_queue(self, organ_id: str) -> str:
        """The agency's dead-letter queue."""
        return f"{self.prefix}.dlq.{organ_id}"

    def retry_name(self, millis: int) -> str:
        """Exchange and queue of the delay tier of ``millis`` milliseconds."""
        return f"{self.prefix}.retry.{millis}"

    def work_queue_arguments(self) -> dict[str, Any]:
        """A durable quorum queue that dead-letters at-least-once to the agency's DLQ."""
        args: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        if self.delivery_limit is not None:
            # RabbitMQ itself parks an entry returned this many times (a consumer crash loop),
            # with x-death reason "delivery_limit".
            args["x-delivery-limit"] = self.delivery_limit
        return args

    @staticmethod
    def dead_queue_arguments() -> dict[str, Any]:
        """The DLQ: a quorum queue nobody consumes; operators inspect, purge or re-send."""
        return {"x-queue-type": "quorum"}

    def retry_queue_arguments(self, millis: int) -> dict[str, Any]:
        """A tier: every message waits ``millis`` then goes back to the deliver exchange."""
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": millis,
            "x-dead-letter-exchange": self.deliver_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
