"""The aiohttp application."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub import vxp
from hub.api import agencies, lifecycle, ops, packages
from hub.api.auth import auth_middleware
from hub.api.keys import RUNTIME
from hub.api.problems import media_type_middleware, problem_middleware
from hub.config import HttpSettings
from hub.dashboard.web import install as install_dashboard
from hub.runtime import Runtime


def runner_options(http: HttpSettings) -> dict[str, Any]:
    """``web.AppRunner`` keyword arguments from ``[http]``: aiohttp closes a connection that
    has no complete request head ``keepalive_timeout`` seconds after it opened or after its
    last response — idle keep-alive connections and half-sent headers alike (its default,
    an hour, kept such connections open). Bodies are timed by the API's own reader."""
    return {"keepalive_timeout": http.keepalive_timeout}


def build_app(runtime: Runtime) -> web.Application:
    """The agency API over a started :class:`Runtime` (the caller owns its lifecycle)."""
    # The body limit is enforced by our own reader (before reading past it); aiohttp's own
    # limit is set just above so it never cuts in first with a non-problem answer.
    app = web.Application(
        middlewares=[problem_middleware, auth_middleware, media_type_middleware],
        client_max_size=runtime.config.settings.max_package_bytes + 1024,
    )
    app[RUNTIME] = runtime
    app.add_routes(ops.routes)
    app.add_routes(packages.routes)
    app.add_routes(lifecycle.routes)  # reports, alarms, dossiers (issue 5)
    app.add_routes(agencies.routes)  # the agency directory (issue 11)
    install_dashboard(app, runtime)  # /dashboard/: the operators' console (issue 6)
    vxp.install(app, runtime)  # [vxp] base_path: the national axis SDK's facade (issue 11)
    return app
