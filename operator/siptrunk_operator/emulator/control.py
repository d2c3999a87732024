"""The control endpoint under ``/_emulator/``: no auth, no faults, JSON in and out.

====== ==================================================================== ===============================
method path                                                                 effect
====== ==================================================================== ===============================
GET    /_emulator/healthz                                                   ``{"status": "ok"}``
GET    /_emulator/requests?kind=&method=&path_contains=&after=              ``{"requests": [...]}``
DELETE /_emulator/requests                                                  clear the request log
GET    /_emulator/trunks                                                    ``{"sipTrunks": [...]}`` (all)
GET    /_emulator/trunks/{project}/{location}/{trunk_id}                    one trunk
PATCH  /_emulator/trunks/{project}/{location}/{trunk_id}                    change fields out of band
DELETE /_emulator/trunks/{project}/{location}/{trunk_id}                    delete out of band
POST   /_emulator/trunks/{project}/{location}/{trunk_id}:setConnections     ``{"connections": [...]|null}``
POST   /_emulator/faults                                                    add a fault -> ``{"id", ...}``
GET    /_emulator/faults                                                    ``{"faults": [...]}``
DELETE /_emulator/faults[/{id}]                                             remove all (or one) faults
POST   /_emulator/identities                                                register an identity
GET    /_emulator/identities                                                ``{"identities": [...]}``
GET    /_emulator/tokens                                                    ``{"tokens": [...]}`` (issued)
GET    /_emulator/config                                                    the settings
POST   /_emulator/config                                                    change runtime settings
POST   /_emulator/reset                                                     see ``EmulatorState.reset``
====== ==================================================================== ===============================

Runtime settings include ``quota_per_minute`` (``null``: no quota; else at most that many API calls
per consumer project in any rolling minute, then Google's 429, see ``quota.py``; setting it starts
empty windows, as does ``reset``), ``latency_seconds`` (every API call waits that long first) and
``hold_writes_seconds`` / ``hold_writes_fraction`` (that share of the sipTrunks writes is held that
long, then committed even if the client has gone; see ``hold.py``). ``after`` on the request log
returns only entries with a greater ``seq`` (for polling; ``request_log.py`` lists the fields).

``setConnections`` with ``null`` hands the trunk back to the connection script. Errors use the
Google error shape. Only the trunk-changing calls appear in the request log (kind ``control``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from siptrunk_operator.models import TrunkName

from .api import error_response
from .config import RUNTIME_SETTINGS
from .connections import parse_explicit_connections
from .errors import ApiError, invalid_argument
from .faults import FaultSpec
from .iam import register_from_json
from .quota import app_quota
from .state import STATE_KEY, EmulatorState
from .store import StoredTrunk
from .wire import decode_json_object, parse_update_mask

routes = web.RouteTableDef()
_TRUNK = "/_emulator/trunks/{project}/{location}/{trunk_id:[^/:]+}"


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    return decode_json_object(await request.read())


def _name(request: web.Request) -> str:
    info = request.match_info
    return str(TrunkName(info["project"], info["location"], info["trunk_id"]))


def _stored(request: web.Request) -> StoredTrunk:
    return _state(request).existing(_name(request))


def _trunk_json(state: EmulatorState, stored: StoredTrunk) -> dict[str, Any]:
    return state.view(stored).to_wire()


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn control-endpoint errors into Google-shaped bodies like the API's."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as error:
        return error_response(error)
    except ValidationError as exc:
        return error_response(invalid_argument(str(exc)))


@routes.get("/_emulator/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/_emulator/requests")
async def list_requests(request: web.Request) -> web.Response:
    query = request.query
    try:
        after = int(query.get("after") or 0)
    except ValueError:
        raise invalid_argument("after must be an integer (a request log seq)") from None
    entries = _state(request).log.entries(
        kind=query.get("kind"), method=query.get("method"), path_contains=query.get("path_contains"), after_seq=after
    )
    return web.json_response({"requests": entries})


@routes.delete("/_emulator/requests")
async def clear_requests(request: web.Request) -> web.Response:
    _state(request).log.clear()
    return web.json_response({})


@routes.get("/_emulator/trunks")
async def list_trunks(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"sipTrunks": [_trunk_json(state, stored) for stored in state.store.all()]})


@routes.get(_TRUNK)
async def get_trunk(request: web.Request) -> web.Response:
    return web.json_response(_trunk_json(_state(request), _stored(request)))


@routes.patch(_TRUNK)
async def edit_trunk(request: web.Request) -> web.Response:
    """Change the given fields as if someone else had (the body's keys are the update mask)."""
    state, data = _state(request), await _body(request)
    stored = state.patch_trunk(_name(request), data, parse_update_mask(",".join(data)))
    return web.json_response(_trunk_json(state, stored))


@routes.delete(_TRUNK)
async def delete_trunk(request: web.Request) -> web.Response:
    _state(request).store.delete(_stored(request).name)
    return web.json_response({})


@routes.post(_TRUNK + ":setConnections")
async def set_connections(request: web.Request) -> web.Response:
    state, stored, data = _state(request), _stored(request), await _body(request)
    raw = data.get("connections")
    if raw is not None and not isinstance(raw, list):
        raise invalid_argument("connections must be a list or null")
    connections = None if raw is None else parse_explicit_connections(raw, state.clock())
    stored = state.store.set_connections(stored, connections)
    return web.json_response(_trunk_json(state, stored))


@routes.post("/_emulator/faults")
async def add_fault(request: web.Request) -> web.Response:
    fault = _state(request).faults.add(FaultSpec.model_validate(await _body(request)))
    return web.json_response(fault.to_json())


@routes.get("/_emulator/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [f.to_json() for f in _state(request).faults.all()]})


@routes.delete("/_emulator/faults")
async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.json_response({})


@routes.delete("/_emulator/faults/{fault_id}")
async def remove_fault(request: web.Request) -> web.Response:
    if not _state(request).faults.remove(request.match_info["fault_id"]):
        raise ApiError(404, "no such fault", reason="FAULT_NOT_FOUND")
    return web.json_response({})


@routes.post("/_emulator/identities")
async def add_identity(request: web.Request) -> web.Response:
    identity = register_from_json(_state(request).iam, await _body(request))
    return web.json_response(identity.summary())


@routes.get("/_emulator/identities")
async def list_identities(request: web.Request) -> web.Response:
    return web.json_response({"identities": [i.summary() for i in _state(request).iam.identities()]})


@routes.get("/_emulator/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    """The access tokens issued at ``/token`` (read-only): for leak scans of logs and status."""
    return web.json_response({"tokens": _state(request).iam.issued_tokens()})


def _config_json(state: EmulatorState) -> dict[str, Any]:
    return state.config.model_dump(mode="json")


@routes.get("/_emulator/config")
async def get_config(request: web.Request) -> web.Response:
    return web.json_response(_config_json(_state(request)))


@routes.post("/_emulator/config")
async def set_config(request: web.Request) -> web.Response:
    state, data = _state(request), await _body(request)
    unknown = set(data) - RUNTIME_SETTINGS
    if unknown:
        allowed = sorted(RUNTIME_SETTINGS)
        raise invalid_argument(f"not runtime settings: {sorted(unknown)}; allowed: {allowed}")
    candidate = state.config.model_copy()
    for key, value in data.items():
        setattr(candidate, key, value)  # validate_assignment: a bad value raises before any change
    for key in data:
        setattr(state.config, key, getattr(candidate, key))
    if "quota_per_minute" in data:
        app_quota(request.app).clear()
    return web.json_response(_config_json(state))


@routes.post("/_emulator/reset")
async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    app_quota(request.app).clear()
    return web.json_response({})
