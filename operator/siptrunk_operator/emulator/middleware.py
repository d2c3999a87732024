"""Around every request: the request log, the log line, and fault injection."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.typedefs import Handler

from .api import IDENTITY, error_response
from .faults import TOKEN_PATH, fault_error
from .request_log import EntryKind
from .routing import resolve_call
from .state import STATE_KEY

logger = logging.getLogger("siptrunk_operator.emulator")

CONTROL_PREFIX = "/_emulator/"
_LOGGED_CONTROL_PREFIX = CONTROL_PREFIX + "trunks/"
_LOGGED_FIELDS = ("seq", "kind", "method", "host", "path", "status", "identity", "user_project", "fault")


def _kind(request: web.Request) -> EntryKind | None:
    """The log kind of a request; ``None`` for control calls that only read or manage the emulator."""
    if request.path.startswith(CONTROL_PREFIX):
        mutating = request.method not in {"GET", "HEAD"}
        return "control" if mutating and request.path.startswith(_LOGGED_CONTROL_PREFIX) else None
    return "token" if request.path == TOKEN_PATH else "api"


def _loggable_body(kind: EntryKind, raw: bytes) -> Any:
    """The parsed body; for ``/token`` only the grant type, never the signed assertion."""
    if not raw.strip():
        return None
    if kind == "token":
        return {"grant_type": parse_qs(raw.decode(errors="replace")).get("grant_type", [None])[0]}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering; aiohttp then discards the returned response."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=499)


@web.middleware
async def traffic_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    kind = _kind(request)
    if kind is None:
        return await handler(request)
    state = request.app[STATE_KEY]
    entry = state.log.start(
        kind=kind,
        now=state.clock(),
        method=request.method,
        host=request.headers.get("Host"),
        path=request.path,
        query=dict(request.query),
        body=_loggable_body(kind, await request.read()),
        user_project=request.headers.get("X-Goog-User-Project"),
    )
    delays, fault = state.faults.pick(request.method, request.path) if kind != "control" else ([], None)
    applied = [f.id for f in delays] + ([fault.id] if fault else [])
    entry["fault"] = ",".join(applied) or None
    for delay in delays:
        await asyncio.sleep(delay.spec.latency)

    action = fault.spec.action if fault else None
    response: web.StreamResponse
    if fault is not None and action == "error":
        response = error_response(fault_error(fault.spec, resolve_call(request.method, request.path)))
    elif action == "reset":
        response = _drop(request)
    else:
        response = await handler(request)
        if action == "lost_response":
            response = _drop(request)
    entry["identity"] = request.get(IDENTITY)
    entry["status"] = "dropped" if action in {"reset", "lost_response"} else response.status
    logger.info(
        "%s %s %s -> %s",
        request.method,
        request.host,
        request.path,
        entry["status"],
        extra={"http": {key: entry[key] for key in _LOGGED_FIELDS}},
    )
    return response
