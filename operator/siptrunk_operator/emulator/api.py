"""The Google paths: ``/{v2,v2beta1}/projects/*/locations/*/sipTrunks[/*]`` and ``POST /token``.

Checks run in the real service's order: authentication (401), host/location (400), permission (403,
so a caller without access never learns whether a trunk exists), request validation (400),
existence (404).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .errors import ApiError, internal, invalid_argument, not_found, url_not_found
from .iam import TOKEN_LIFETIME, Iam, OAuthError
from .routing import Call, Method, check_location, resolve_call
from .state import STATE_KEY, EmulatorState
from .store import StoredTrunk
from .wire import decode_json_object, parse_trunk, parse_update_mask, validate_trunk, wants_int_enums

logger = logging.getLogger(__name__)

IDENTITY = web.RequestKey("emulator_identity", str)
"""Where handlers leave the caller's email for the request log."""


def error_response(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.code, headers=error.headers)


async def handle_api(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        return await _dispatch(request, state)
    except ApiError as error:
        return error_response(error)
    except Exception:
        logger.exception("emulator bug while handling %s %s", request.method, request.path)
        return error_response(internal())


async def _dispatch(request: web.Request, state: EmulatorState) -> web.Response:
    call = resolve_call(request.method, request.path)
    if call is None:
        raise url_not_found(request.method, request.path)
    mode = state.config.mode
    identity = state.iam.authenticate(request.headers.get("Authorization"), mode, state.clock())
    request[IDENTITY] = identity.email
    check_location(request.host, call.location)
    Iam.authorize(identity, mode, call.project, call.method.permission, call.resource)
    body = await _HANDLERS[call.method](request, state, call)
    return web.json_response(body)


def _query(query: Mapping[str, str], camel: str, snake: str) -> str | None:
    return query.get(camel, query.get(snake))


def _page_size(query: Mapping[str, str], state: EmulatorState) -> int:
    """AIP-158: 0 or absent is the default, oversize is clamped, negative is a 400."""
    raw = _query(query, "pageSize", "page_size")
    try:
        size = int(raw) if raw not in (None, "") else 0
    except ValueError:
        raise invalid_argument(
            f"Invalid value for page_size: {raw!r}", reason="INVALID_PAGE_SIZE", field="page_size"
        ) from None
    if size < 0:
        raise invalid_argument(
            f"page_size must not be negative, got {size}.", reason="INVALID_PAGE_SIZE", field="page_size"
        )
    return min(size or state.config.default_page_size, state.config.max_page_size)


def _render(request: web.Request, state: EmulatorState, stored: StoredTrunk) -> dict[str, Any]:
    return state.view(stored).to_wire(enums_as_int=wants_int_enums(request.query))


async def _create(request: web.Request, state: EmulatorState, call: Call) -> dict[str, Any]:
    trunk, _ = parse_trunk(decode_json_object(await request.read()))
    validate_trunk(trunk, require_peer_hostnames=state.config.require_peer_hostnames)
    return _render(request, state, state.store.create(call.parent, trunk, state.clock()))


async def _list(request: web.Request, state: EmulatorState, call: Call) -> dict[str, Any]:
    page_size = _page_size(request.query, state)
    token = _query(request.query, "pageToken", "page_token") or ""
    page, next_token = state.store.list_page(call.parent, page_size, token)
    body: dict[str, Any] = {}
    if page:  # proto3 JSON omits empty fields: the last (or an empty) page is `{}`
        body["sipTrunks"] = [_render(request, state, stored) for stored in page]
    if next_token:
        body["nextPageToken"] = next_token
    return body


async def _get(request: web.Request, state: EmulatorState, call: Call) -> dict[str, Any]:
    return _render(request, state, state.existing(call.name))


async def _update(request: web.Request, state: EmulatorState, call: Call) -> dict[str, Any]:
    mask = parse_update_mask(_query(request.query, "updateMask", "update_mask"))
    stored = state.patch_trunk(call.name, decode_json_object(await request.read()), mask)
    return _render(request, state, stored)


async def _delete(request: web.Request, state: EmulatorState, call: Call) -> dict[str, Any]:
    if not state.store.delete(call.name):
        raise not_found(call.name)
    return {}


_Handler = Callable[[web.Request, EmulatorState, Call], Awaitable[dict[str, Any]]]
_HANDLERS: dict[Method, _Handler] = {
    Method.CREATE: _create,
    Method.LIST: _list,
    Method.GET: _get,
    Method.UPDATE: _update,
    Method.DELETE: _delete,
}


async def handle_token(request: web.Request) -> web.Response:
    """``POST /token``: the OAuth2 JWT-bearer grant google-auth performs against ``token_uri``."""
    state = request.app[STATE_KEY]
    form = await request.post()
    grant_type, assertion = form.get("grant_type"), form.get("assertion")
    try:
        token, email = state.iam.issue_token(
            grant_type if isinstance(grant_type, str) else None,
            assertion if isinstance(assertion, str) else None,
            state.config.mode,
            state.clock(),
        )
    except OAuthError as error:
        return web.json_response(error.body(), status=error.status)
    request[IDENTITY] = email
    return web.json_response({"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})
