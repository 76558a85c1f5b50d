"""iGate adapter: a provincial one-stop system (JSON REST) ↔ signed dossier packages.

``create_adapter`` is what ``hub connector`` loads for ``[adapter] name = "igate"``;
:mod:`adapters.igate.simulator` is a working imitation of the system for tests and the demo.
"""

from adapters.igate.adapter import IgateAdapter, Settings, create_adapter

__all__ = ["IgateAdapter", "Settings", "create_adapter"]
