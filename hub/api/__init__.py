"""The agency HTTP API (aiohttp)."""

from hub.api.app import build_app

__all__ = ["build_app"]
