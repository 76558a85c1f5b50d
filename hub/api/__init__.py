"""The agency HTTP API (aiohttp): :func:`hub.api.app.build_app` assembles it.

The package itself imports nothing: its shared pieces (``keys``, ``problems``) are imported by
the dashboard, which the application in turn installs, so a package ``__init__`` that pulled
in ``app`` would close an import cycle."""
