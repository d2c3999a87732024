"""Around every request: the request log, the log line, the quota, the latency and fault injection."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.typedefs import Handler

from .api import IDENTITY, error_response
from .errors import ApiError, quota_exceeded
from .faults import TOKEN_PATH, fault_error
from .quota import app_quota
from .request_log import EntryKind
from .routing import resolve_call
from .state import STATE_KEY, EmulatorState

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


def _quota_error(request: web.Request, state: EmulatorState) -> ApiError | None:
    """Google's 429 if this authenticated sipTrunks call is over its consumer's quota, else ``None``.

    Unauthenticated calls have no consumer: the handler answers their 401 and they are not counted.
    """
    limit, call = state.config.quota_per_minute, resolve_call(request.method, request.path)
    if limit is None or call is None:
        return None
    try:
        identity = state.iam.authenticate(request.headers.get("Authorization"), state.config.mode, state.clock())
    except ApiError:
        return None
    consumer = request.headers.get("X-Goog-User-Project") or call.project
    wait = app_quota(request.app).admit(consumer, limit)
    if wait is None:
        return None
    request[IDENTITY] = identity.email
    return quota_exceeded(consumer, max(1, math.ceil(wait)), limit_value=limit)


async def _apply_faults(
    request: web.Request, handler: Handler, state: EmulatorState, kind: EntryKind, entry: dict[str, Any]
) -> tuple[web.StreamResponse, bool]:
    """The response after the faults this request triggers, and whether the connection was dropped."""
    delays, fault = state.faults.pick(request.method, request.path) if kind != "control" else ([], None)
    applied = [f.id for f in delays] + ([fault.id] if fault else [])
    entry["fault"] = ",".join(applied) or None
    for delay in delays:
        await asyncio.sleep(delay.spec.latency)

    action = fault.spec.action if fault else None
    if fault is not None and action == "error":
        return error_response(fault_error(fault.spec, resolve_call(request.method, request.path))), False
    if action == "reset":
        return _drop(request), True
    response = await handler(request)
    if action == "lost_response":
        return _drop(request), True
    return response, False


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
    over_quota = _quota_error(request, state) if kind == "api" else None  # counted at arrival
    if kind == "api" and state.config.latency_seconds > 0:
        await asyncio.sleep(state.config.latency_seconds)

    response: web.StreamResponse
    if over_quota is not None:
        response, dropped = error_response(over_quota), False
    else:
        response, dropped = await _apply_faults(request, handler, state, kind, entry)
    entry["identity"] = request.get(IDENTITY)
    entry["status"] = "dropped" if dropped else response.status
    logger.info(
        "%s %s %s -> %s",
        request.method,
        request.host,
        request.path,
        entry["status"],
        extra={"http": {key: entry[key] for key in _LOGGED_FIELDS}},
    )
    return response
