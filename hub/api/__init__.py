"""The agency HTTP API (aiohttp)."""

from hub.api.app import build_app, runner_options

__all__ = ["build_app", "runner_options"]
