"""``qlvb``: a document-management system that already speaks edXML (push or pull).

See :mod:`adapters.qlvb.adapter` and :mod:`adapters.qlvb.simulator`.
"""

from adapters.qlvb.adapter import QlvbAdapter, Settings, create_adapter

__all__ = ["QlvbAdapter", "Settings", "create_adapter"]
