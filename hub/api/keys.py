"""Typed keys for what the aiohttp application and requests carry."""

from __future__ import annotations

from aiohttp import web

from hub.runtime import Runtime

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)

#: the authenticated OrganId of the caller, set by the auth middleware
CALLER: web.RequestKey[str] = web.RequestKey("caller", str)
