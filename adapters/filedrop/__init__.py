"""``filedrop``: folders for sites with poor connectivity (outbox/, inbox/, sent/, errors/).

See :mod:`adapters.filedrop.adapter` and :mod:`adapters.filedrop.simulator`.
"""

from adapters.filedrop.adapter import FiledropAdapter, Settings, create_adapter

__all__ = ["FiledropAdapter", "Settings", "create_adapter"]
