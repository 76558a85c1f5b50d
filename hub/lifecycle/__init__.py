"""Document and dossier lifecycles, the procedure catalogue, the working-day calendar, SLA
alarms, notifications and reports (issue 5). See ``docs/lifecycle.md``.

Modules: :mod:`~hub.lifecycle.machines` (allowed transitions), :mod:`~hub.lifecycle.engine`
(the ingest step), :mod:`~hub.lifecycle.store` (the store's lifecycle part),
:mod:`~hub.lifecycle.procedures`, :mod:`~hub.lifecycle.calendar`, :mod:`~hub.lifecycle.config`,
:mod:`~hub.lifecycle.alarms`, :mod:`~hub.lifecycle.notify`, :mod:`~hub.lifecycle.reports`.
This package imports nothing at import time, so the store modules may import
:mod:`hub.lifecycle.store` without a cycle.
"""
