"""Routing: who receives a package.

A document goes to its ``To`` organs; a status package goes to ``ResponseFor/OrganId`` (the
other party of the referenced document). Rules from ``routes.toml`` then add copies or forbid
routes. Every recipient must be known and enabled, or the package is refused at submission:
never accepted and then lost.

Sub-units (issue 10, ``docs/subunits.md``): a code nobody registered goes to its nearest
registered ancestor when that ancestor represents its descendants (a province's one system
for all its departments and communes); the delivery records the original codes it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class Route:
    """Where a package goes.

    ``recipients``: one delivery each, in order. ``stands_for``: for a recipient that receives
    the package *on behalf of* sub-units (codes it represents, see
    :meth:`Registry.representative`), the original codes, in the order they were addressed.
    ``direct``: the recipients addressed in their own name (a representative may be both).
    """

    recipients: tuple[str, ...]
    stands_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    direct: frozenset[str] = frozenset()

    def parties(self) -> tuple[str, ...]:
        """The agencies the package is *for*: each recipient addressed in its own name and
        the original codes its delivery stands for, in delivery order (the lifecycle keeps a
        state for each)."""
        out: list[str] = []
        for r in self.recipients:
            if r in self.direct:
                out.append(r)
            out.extend(self.stands_for.get(r, ()))
        return tuple(dict.fromkeys(out))


def addressed_codes(
    *, kind: str, sender: str, addressed: Sequence[str], rules: Sequence[RouteRule]
) -> list[str]:
    """The codes a package is for before the registry is asked: the addressed codes, then
    those the copy rules add, each once, without the sender's own.

    When every one is a registered, enabled agency (no sub-unit folded into its
    representative) and no ``forbid`` rule matches, these are exactly the recipients
    :func:`resolve` gives: what a check worker predicts a receipt's recipients by."""
    codes: list[str] = []
    for organ_id in addressed:
        if organ_id not in codes:
            codes.append(organ_id)
    for rule in rules:
        if rule.action != "copy" or rule.kind not in ("*", kind):
            continue
        if matches(rule.sender, sender) and any(matches(rule.recipient, r) for r in addressed):
            codes.extend(a for a in rule.add if a not in codes)
    return [r for r in codes if r != sender]


def resolve(
    *,
    kind: str,
    sender: str,
    addressed: Sequence[str],
    registry: Registry,
    rules: Sequence[RouteRule],
) -> Route:
    """The deliveries of a package: addressed codes, then copy rules, then sub-units folded
    into their representatives.

    Each code (addressed or added by a copy rule) that is registered is delivered to itself
    (known and enabled, or refused); an unregistered code whose nearest registered ancestor
    represents its descendants is delivered to that ancestor, which *stands for* it (one
    delivery per ancestor per package, listing every original code). The sender's own code is
    dropped. Copy and forbid rules match the original codes (and forbid rules the
    representative too: forbidding ``000.00.00.H29`` forbids what it would receive).

    Raises :class:`UnknownRecipient` for an unknown or disabled recipient with no active
    representative, and :class:`RouteForbidden` when a ``forbid`` rule matches.
    """
    codes = addressed_codes(kind=kind, sender=sender, addressed=addressed, rules=rules)
    if not codes:
        raise UnknownRecipient(
            "the package names no recipient other than its sender", recipients=list(addressed)
        )
    recipients: list[str] = []
    direct: list[str] = []
    stands_for: dict[str, list[str]] = {}
    unknown: list[str] = []
    for code in codes:
        if registry.get(code) is not None:
            # A registered code is itself, never folded into an ancestor (even if disabled:
            # then it is refused, not silently redirected).
            if not registry.is_active(code):
                unknown.append(code)
                continue
            target = code
            direct.append(code)
        else:
            rep = registry.representative(code)
            if rep is None:
                unknown.append(code)
                continue
            target = rep
            stands_for.setdefault(rep, []).append(code)
        if target not in recipients:
            recipients.append(target)
    if unknown:
        raise UnknownRecipient(
            f"unknown or disabled recipient(s): {', '.join(unknown)}", recipients=unknown
        )
    for rule in rules:
        if rule.action != "forbid" or rule.kind not in ("*", kind):
            continue
        if not matches(rule.sender, sender):
            continue
        blocked = [r for r in (*codes, *recipients) if matches(rule.recipient, r)]
        blocked = list(dict.fromkeys(blocked))
        if blocked:
            raise RouteForbidden(
                f"rule {rule.name} forbids {sender} → {', '.join(blocked)}", recipients=blocked
            )
    return Route(
        recipients=tuple(recipients),
        stands_for={k: tuple(v) for k, v in stands_for.items()},
        direct=frozenset(direct),
    )


def route(
    *,
    kind: str,
    sender: str,
    addressed: Sequence[str],
    registry: Registry,
    rules: Sequence[RouteRule],
) -> tuple[str, ...]:
    """The recipients of a package, in order, without duplicates and without the sender
    (:func:`resolve` without the sub-units each recipient stands for)."""
    return resolve(
        kind=kind, sender=sender, addressed=addressed, registry=registry, rules=rules
    ).recipients
