"""The template_name adapter (scaffolded by ``hub adapter new template_name``).

Out of the box it connects a *spool directory* system: the external system drops records to
send as JSON files into ``outbox_dir`` and finds what the hub delivered in ``inbox_dir``.
Replace :mod:`.adapter`'s transport with your system's API and :mod:`.mapping` with its field
names; the tests in ``tests/`` keep you honest.
"""

from .adapter import Settings, TemplateNameAdapter, create_adapter

__all__ = ["Settings", "TemplateNameAdapter", "create_adapter"]
