"""The lifecycle as an ingest step: frozen inputs, frozen results, one small protocol.

Ingest (:mod:`hub.pipeline.ingest`) calls a :class:`LifecycleStep` at two points and knows
nothing else of the lifecycles: :meth:`~LifecycleStep.address` before routing (recipients the
lifecycles decide), :meth:`~LifecycleStep.plan` after routing and de-duplication (the move the
package makes, checked against the current state). The :class:`~hub.lifecycle.engine.Plan`
it returns turns into the store's compare-and-set (``Plan.change``) and the links on the
originals' traces (``Plan.links``), both written in the package's own accept transaction;
a move that loses its compare-and-set there is recorded with :meth:`~LifecycleStep.refused`.
:class:`hub.lifecycle.engine.NoLifecycle` is the step when lifecycles are not enforced.

The inputs carry what the step needs of a checked package, so this package does not depend
on the pipeline (dependencies run pipeline → lifecycle → store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from hub.dossier import DossierPackage
from hub.edxml import EdxmlPackage
from hub.errors import LifecycleError
from hub.store.records import DocState

if TYPE_CHECKING:  # the engine imports this module
    from hub.lifecycle.engine import Plan


@dataclass(frozen=True, slots=True)
class LifecycleInput:
    """What the lifecycle step needs of a verified package.

    ``recipients``: the package's own ``To`` (before :meth:`LifecycleStep.address`), then
    the addressed recipients; the other fields as in :class:`hub.pipeline.checks.Summary`.
    """

    package: EdxmlPackage | DossierPackage
    sha256: str
    kind: str
    sender: str
    recipients: tuple[str, ...]
    reference_id: str | None
    business_doc_type: int | None
    status_code: str | None


@dataclass(frozen=True, slots=True)
class Addressed:
    """The result of :meth:`LifecycleStep.address`.

    ``recipients``: the package's ``To`` and what the lifecycles add (in that order);
    ``originals``: the rows of the originals a revocation, update or replacement names, as
    read while addressing (``None``: not read), so planning does not read them again.
    """

    recipients: tuple[str, ...]
    originals: tuple[DocState, ...] | None = None


@dataclass(frozen=True, slots=True)
class PlanInput:
    """The input of :meth:`LifecycleStep.plan`.

    ``parties``: the agencies the package is for (one lifecycle state each: sub-units in
    their own code); ``at``: the acceptance time the move will carry; ``record``: write a
    refusal on the trace (real submissions, not ``/v1/validate``)."""

    subject: LifecycleInput
    addressed: Addressed
    parties: tuple[str, ...]
    at: datetime
    record: bool


class LifecycleStep(Protocol):
    """The lifecycle step of ingest (see the module docstring)."""

    async def address(self, subject: LifecycleInput) -> Addressed:
        """Recipients the lifecycles decide; raises a ``lifecycle.*`` refusal."""
        ...

    async def plan(self, request: PlanInput) -> Plan:
        """The move the package makes; raises a ``lifecycle.*`` refusal (recorded if asked)."""
        ...

    async def refused(self, exc: LifecycleError, subject: LifecycleInput, at: datetime) -> None:
        """Record a refusal decided later (a compare-and-set lost at commit) on the trace."""
        ...
