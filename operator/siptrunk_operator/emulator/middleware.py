"""Around every request: the request log, the log line, the quota, the latency, fault injection
and held writes (``hold.py``)."""

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
from .errors import ApiError, deadline_exceeded, quota_exceeded
from .faults import TOKEN_PATH, Fault, fault_error
from .hold import hold_seconds, server_timeout
from .quota import app_quota
from .request_log import EntryKind
from .routing import resolve_call
from .state import STATE_KEY, EmulatorState
from .wire import rfc3339

logger = logging.getLogger("siptrunk_operator.emulator")

CONTROL_PREFIX = "/_emulator/"
_LOGGED_CONTROL_PREFIX = CONTROL_PREFIX + "trunks/"
_LOGGED_FIELDS = (
    "seq", "kind", "method", "host", "path", "status", "identity", "user_project", "fault", "injected", "held",
)


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
    entry["injected"] += ["latency"] * len(delays) + ([_injected(fault)] if fault else [])
    for delay in delays:
        await asyncio.sleep(delay.spec.latency)

    action = fault.spec.action if fault else None
    if fault is not None and action == "error":
        return error_response(fault_error(fault.spec, resolve_call(request.method, request.path))), False
    if action == "reset":
        return _drop(request), True
    response = await _process(request, handler, state, kind, entry)
    if action == "lost_response":
        return _drop(request), True
    return response, False


def _injected(fault: Fault) -> str:
    action = fault.spec.action
    return f"error:{fault.spec.status}" if action == "error" else action


async def _process(
    request: web.Request, handler: Handler, state: EmulatorState, kind: EntryKind, entry: dict[str, Any]
) -> web.StreamResponse:
    """The handler's response; a held write waits first, in a task that commits even if we are cancelled."""
    config = state.config
    seconds = hold_seconds(config.hold_writes_seconds, config.hold_writes_fraction, request.method, request.path,
                           state.rng) if kind == "api" else 0.0
    if not seconds:
        return await handler(request)
    entry["held"] = seconds
    entry["injected"].append("hold")
    timeout = server_timeout(request.headers)

    async def commit() -> web.StreamResponse:
        if timeout is not None and timeout < seconds:
            await asyncio.sleep(timeout)  # the caller's deadline ends the hold: nothing is committed
            entry["injected"].append("server_timeout")
            response: web.StreamResponse = error_response(deadline_exceeded())
        else:
            await asyncio.sleep(seconds)
            response = await handler(request)
        now = rfc3339(state.clock())
        if 200 <= response.status < 300:
            entry["committed"] = now
        entry["identity"] = request.get(IDENTITY)  # final unless the middleware is still waiting
        entry["status"], entry["done"] = response.status, now
        return response

    return await state.commits.run(commit())


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


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
    try:
        if over_quota is not None:
            entry["injected"].append("quota:429")
            response, dropped = error_response(over_quota), False
        else:
            response, dropped = await _apply_faults(request, handler, state, kind, entry)
    except asyncio.CancelledError:  # the client left (handler_cancellation) or the server is stopping
        entry["client_gone"] = True
        raise
    entry["identity"] = request.get(IDENTITY)
    entry["status"] = "dropped" if dropped else response.status
    entry["client_gone"] = not dropped and _client_gone(request)
    entry["done"] = rfc3339(state.clock())
    logger.info(
        "%s %s %s -> %s",
        request.method,
        request.host,
        request.path,
        entry["status"],
        extra={"http": {key: entry[key] for key in _LOGGED_FIELDS}},
    )
    return response
