"""Run the shipped Argo CD health check (deploy/argocd/siptrunk-health.lua) the way Argo CD does.

Argo CD (gopher-lua, Lua 5.1) opens only the base, table, package and a reduced os library, sets the
live object as the global `obj` (JSON objects become tables, arrays 1-based tables, null is absent),
runs the script and reads the table it returns: `status` (a health code) and `message`. Here the
script runs in lupa's Lua 5.1 with the same globals and without the string library, so a script
that would fail in Argo CD (`string.format`, `s:sub(...)`, `math.*`) fails here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lupa.lua51 as lua51

REPO_ROOT = Path(__file__).resolve().parents[1]
HEALTH_SCRIPT = REPO_ROOT / "deploy" / "argocd" / "siptrunk-health.lua"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "objects"
HEALTH_CODES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})

# Base library functions gopher-lua's OpenBase provides (Argo CD's sandbox), plus table and a safe os.
_SANDBOX = """
local script, obj = ...
local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  print = print, rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  setmetatable = setmetatable, getmetatable = getmetatable, tonumber = tonumber, tostring = tostring,
  type = type, unpack = unpack, xpcall = xpcall, _VERSION = _VERSION,
  table = table, os = {time = os.time, date = os.date, clock = os.clock},
}
env._G = env
env.obj = obj
local chunk, err = loadstring(script, "=siptrunk-health.lua")
if chunk == nil then error(err) end
setfenv(chunk, env)
-- No string library: strings have no methods either.
local string_metatable = getmetatable("")
local string_index = string_metatable.__index
string_metatable.__index = nil
local ok, result = pcall(chunk)
string_metatable.__index = string_index
if not ok then error(result, 0) end
return result
"""


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, Mapping):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[key] = _to_lua(runtime, item)
        return table
    if isinstance(value, list | tuple):
        table = runtime.table()
        for index, item in enumerate(value, start=1):
            table[index] = _to_lua(runtime, item)
        return table
    return value


def argocd_health(obj: Mapping[str, Any], script: str | None = None) -> Health:
    """The health Argo CD computes for `obj` with the shipped (or the given) script."""
    runtime = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    run = runtime.eval(f"function(...) {_SANDBOX} end")
    result = run(HEALTH_SCRIPT.read_text() if script is None else script, _to_lua(runtime, obj))
    if lua51.lua_type(result) != "table":
        raise AssertionError(f"the script returned {result!r}, not a table (Argo CD reports Unknown)")
    status, message = result["status"], result["message"]
    if status not in HEALTH_CODES:
        raise AssertionError(f"the script returned status {status!r}, not one of {sorted(HEALTH_CODES)}")
    return Health(str(status), "" if message is None else str(message))


def load_fixture(name: str) -> dict[str, Any]:
    """A real SipTrunk captured by the end-to-end tests (`tests/fixtures/objects/<name>.json`)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded
