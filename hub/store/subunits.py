"""Sub-unit deliveries (issue 10), the parts both store backends share.

A delivery to an agency that represents its descendants (``represents = "descendants"``)
records the original codes it stands for in ``deliveries.stands_for``; the trace says so in a
``represented`` event written with the package, and every later event of that delivery
carries ``"for"`` in its detail.
"""

from __future__ import annotations

import json

from hub.models import DeliveryRecord, Event, NewPackage


def stands_for_json(package: NewPackage, recipient: str) -> str | None:
    """The ``deliveries.stands_for`` value of one recipient (``NULL``: its own name only)."""
    codes = package.stands_for.get(recipient)
    return json.dumps(list(codes), ensure_ascii=False) if codes else None


def represented_events(package: NewPackage) -> list[Event]:
    """One ``represented`` event per delivery that stands for sub-units, written with the
    package (the trace says who receives it for whom from the start)."""
    return [
        Event(
            package_id=package.id,
            kind="represented",
            at=package.accepted_at,
            recipient=r,
            detail={"for": list(codes), "text": f"delivered to {r} for {', '.join(codes)}"},
        )
        for r in package.recipients
        if (codes := package.stands_for.get(r))
    ]


def with_stands_for(detail: dict[str, object], record: DeliveryRecord) -> dict[str, object]:
    """A delivery event's detail, naming the sub-units the delivery stands for (if any)."""
    return {**detail, "for": list(record.stands_for)} if record.stands_for else detail
