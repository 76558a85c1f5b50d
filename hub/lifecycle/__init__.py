"""Document and dossier lifecycles, the procedure catalogue, the working-day calendar, SLA
alarms, notifications and reports (issue 5). See ``docs/lifecycle.md``.

Modules: :mod:`~hub.lifecycle.machines` (allowed transitions), :mod:`~hub.lifecycle.engine`
(the ingest step), :mod:`~hub.lifecycle.procedures`, :mod:`~hub.lifecycle.calendar`,
:mod:`~hub.lifecycle.config`, :mod:`~hub.lifecycle.alarms`, :mod:`~hub.lifecycle.notify`,
:mod:`~hub.lifecycle.reports`.
The records the lifecycles store (``DocState``, ``LifecycleChange``, …) and the store's
lifecycle part (``LifecycleStore``) belong to the store contract: :mod:`hub.store.records`,
:mod:`hub.store.facets`.
"""
