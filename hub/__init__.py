"""The exchange hub: signed edXML and dossier packages in, verified, routed, delivered."""

__version__ = "0.1.0"
