"""Routing: who receives a package.

A document goes to its ``To`` organs; a status package goes to ``ResponseFor/OrganId`` (the
other party of the referenced document). Rules from ``routes.toml`` then add copies or forbid
routes. Every recipient must be known and enabled, or the package is refused at submission:
never accepted and then lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.config import RouteRule
from hub.edxml.organ_id import OrganId
from hub.errors import RouteForbidden, UnknownRecipient
from hub.registry import Registry


def matches(pattern: str, organ_id: str) -> bool:
    """``*``, an exact OrganId, a prefix ending in ``*``, or ``under:OrganId`` (that agency
    and every agency below it)."""
    if pattern == "*" or pattern == organ_id:
        return True
    if pattern.endswith("*"):
        return organ_id.startswith(pattern[:-1])
    if pattern.startswith("under:"):
        try:
            root, node = OrganId.parse(pattern[6:]), OrganId.parse(organ_id)
        except ValueError:
            return False
        return root == node or root.is_ancestor_of(node)
    return False


def route(
    *,
    kind: str,
    sender: str,
    addressed: Sequence[str],
    registry: Registry,
    rules: Sequence[RouteRule],
) -> tuple[str, ...]:
    """The recipients of a package, in order, without duplicates and without the sender.

    Raises :class:`UnknownRecipient` for an unknown or disabled recipient and
    :class:`RouteForbidden` when a ``forbid`` rule matches.
    """
    recipients: list[str] = []
    for organ_id in addressed:
        if organ_id not in recipients:
            recipients.append(organ_id)
    for rule in rules:
        if rule.action != "copy" or rule.kind not in ("*", kind):
            continue
        if matches(rule.sender, sender) and any(matches(rule.recipient, r) for r in addressed):
            recipients.extend(a for a in rule.add if a not in recipients)
    recipients = [r for r in recipients if r != sender]
    if not recipients:
        raise UnknownRecipient(
            "the package names no recipient other than its sender", recipients=list(addressed)
        )
    unknown = [r for r in recipients if not registry.is_active(r)]
    if unknown:
        raise UnknownRecipient(
            f"unknown or disabled recipient(s): {', '.join(unknown)}", recipients=unknown
        )
    for rule in rules:
        if rule.action != "forbid" or rule.kind not in ("*", kind):
            continue
        if not matches(rule.sender, sender):
            continue
        blocked = [r for r in recipients if matches(rule.recipient, r)]
        if blocked:
            raise RouteForbidden(
                f"rule {rule.name} forbids {sender} → {', '.join(blocked)}", recipients=blocked
            )
    return tuple(recipients)
