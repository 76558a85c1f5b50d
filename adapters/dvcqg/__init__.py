"""``dvcqg``: the national public-service portal (Cổng Dịch vụ công quốc gia).

See :mod:`adapters.dvcqg.adapter` for the transport and exactly-once rules,
:mod:`adapters.dvcqg.mapping` for the DVCQG record ↔ dossier package mapping and
:mod:`adapters.dvcqg.simulator` for the portal simulator tests and ``hub demo`` use.
"""

from adapters.dvcqg.adapter import DvcqgAdapter, Settings, create_adapter

__all__ = ["DvcqgAdapter", "Settings", "create_adapter"]
