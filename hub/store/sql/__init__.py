"""SQL that :mod:`hub.store.sqlite` and :mod:`hub.store.postgres` share, one module per area.

Statements are written once with ``?`` placeholders; a backend runs them through its
:class:`~hub.store.sql.dialect.Dialect` (``?`` becomes ``%s`` on PostgreSQL). Row mappers and
parameter builders take the dialect too, for what really differs: how a time, a boolean or a
JSON value is stored, how a list of ids is bound, and SQLite's ``INDEXED BY`` hints. What stays
per backend is only SQL whose dialects differ (PostgreSQL's ``unnest`` upserts, locking,
``RETURNING`` shapes) and the way each one runs a unit of work (SQLite's writer thread,
PostgreSQL's pool).

Modules: :mod:`~hub.store.sql.dialect` (the dialect type), :mod:`~hub.store.sql.store`
(:class:`~hub.store.sql.store.SqlStore`: the store methods both backends run alike, on a few
primitives of theirs), :mod:`~hub.store.sql.packages` (packages, deliveries, blobs, events,
inbox and outbox pages), :mod:`~hub.store.sql.accept` (the accept transaction, as operations
each backend drives), :mod:`~hub.store.sql.settle`, :mod:`~hub.store.sql.dashboard` (with
:class:`~hub.store.sql.dashboard.SqlDashboard`), :mod:`~hub.store.sql.lifecycle`,
:mod:`~hub.store.sql.revinfo`, :mod:`~hub.store.sql.directory` (the agency directory and
runtime agency changes) and :mod:`~hub.store.sql.vxp`.
"""
