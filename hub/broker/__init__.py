"""Work carriers: a confirmed queue entry per (package, recipient)."""

from hub.broker.abc import Broker, QueueEntry, QueueMessage

__all__ = ["Broker", "QueueEntry", "QueueMessage"]
