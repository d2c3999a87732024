"""The aiohttp application: control routes, the token endpoint, then every Google path."""

from __future__ import annotations

from aiohttp import web

from .api import handle_api, handle_token
from .control import control_errors, routes
from .faults import TOKEN_PATH
from .middleware import traffic_middleware
from .state import STATE_KEY, EmulatorState


def make_app(state: EmulatorState) -> web.Application:
    app = web.Application(middlewares=[traffic_middleware, control_errors])
    app[STATE_KEY] = state
    app.add_routes(routes)
    app.router.add_post(TOKEN_PATH, handle_token)
    app.router.add_route("*", "/{path:.*}", handle_api)  # unknown paths get a Google-shaped 404
    return app
