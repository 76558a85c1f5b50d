"""Tamper-evident audit log: hash chains per writer, signed checkpoints, verification,
evidence archives and retention (see ``docs/audit-and-evidence.md``)."""
