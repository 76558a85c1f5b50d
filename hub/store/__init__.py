"""State of the hub: packages (exact bytes), deliveries, inbox, acks, receipts, events."""

from hub.store.abc import Store

__all__ = ["Store"]
