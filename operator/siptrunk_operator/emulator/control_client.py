"""A small synchronous client of the control endpoint, for tests and the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from siptrunk_operator.models import TrunkName

from .faults import FaultAction


class EmulatorControlError(RuntimeError):
    """The control endpoint answered an error (its Google-shaped body is in ``body``)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"emulator control call failed with HTTP {status}: {body}")
        self.status, self.body = status, body


class EmulatorControl:
    """``EmulatorControl(emulator.url)``; trunks are addressed by full resource name."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout)

    def _call(self, method: str, path: str, json: Any = None, params: Mapping[str, str] | None = None) -> Any:
        response = self._http.request(method, path, json=json, params=params)
        if response.is_error:
            raise EmulatorControlError(response.status_code, response.text)
        return response.json()

    @staticmethod
    def _trunk_path(name: str) -> str:
        trunk = TrunkName.parse(name)
        return f"/trunks/{trunk.project}/{trunk.location}/{trunk.trunk_id}"

    def requests(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        *,
        kind: str | None = "api",
        after_seq: int = 0,
    ) -> list[dict[str, Any]]:
        """Logged requests, oldest first; by default only Google API calls (``kind=None``: all);
        ``after_seq``: only those logged after that ``seq``."""
        filters = {"kind": kind, "method": method, "path_contains": path_contains,
                   "after": str(after_seq) if after_seq else None}
        params = {key: value for key, value in filters.items() if value is not None}
        entries: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["requests"]
        return entries

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def trunks(self) -> list[dict[str, Any]]:
        trunks: list[dict[str, Any]] = self._call("GET", "/trunks")["sipTrunks"]
        return trunks

    def trunk(self, name: str) -> dict[str, Any]:
        trunk: dict[str, Any] = self._call("GET", self._trunk_path(name))
        return trunk

    def set_connections(self, name: str, connections: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
        """Pin the trunk's connections (``None``: back to the connection script); returns the trunk."""
        body = {"connections": None if connections is None else [dict(c) for c in connections]}
        trunk: dict[str, Any] = self._call("POST", self._trunk_path(name) + ":setConnections", json=body)
        return trunk

    def edit_trunk(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change fields out of band (camelCase or snake_case keyword names)."""
        trunk: dict[str, Any] = self._call("PATCH", self._trunk_path(name), json=fields)
        return trunk

    def delete_trunk(self, name: str) -> None:
        self._call("DELETE", self._trunk_path(name))

    def add_fault(
        self,
        action: FaultAction = "error",
        *,
        method: str | None = None,
        path: str | None = None,
        status: int = 503,
        retry_delay: float | None = None,
        latency: float = 0.0,
        times: int | None = None,
        probability: float = 1.0,
        message: str | None = None,
        reason: str | None = None,
        first: bool = False,
    ) -> str:
        """Add a fault rule (see ``faults.py``; ``first``: tried before the others); returns its id."""
        body = {
            "action": action,
            "method": method,
            "path": path,
            "status": status,
            "retry_delay": retry_delay,
            "latency": latency,
            "times": times,
            "probability": probability,
            "message": message,
            "reason": reason,
            "first": first,
        }
        fault_id: str = self._call("POST", "/faults", json=body)["id"]
        return fault_id

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return faults

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def add_identity(
        self,
        email: str,
        public_key_pem: str,
        projects: Iterable[str],
        permissions: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "email": email,
            "public_key_pem": public_key_pem,
            "projects": list(projects),
            "permissions": None if permissions is None else list(permissions),
        }
        identity: dict[str, Any] = self._call("POST", "/identities", json=body)
        return identity

    def identities(self) -> list[dict[str, Any]]:
        """Registered identities: email, projects, permissions (never keys)."""
        identities: list[dict[str, Any]] = self._call("GET", "/identities")["identities"]
        return identities

    def issued_tokens(self) -> list[str]:
        """The access tokens the emulator issued (since start-up or the last reset)."""
        return [str(entry["token"]) for entry in self._call("GET", "/tokens")["tokens"]]

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change runtime settings: ``mode``, ``connect_after``, ``require_peer_hostnames``, page sizes,
        ``quota_per_minute`` (``None``: no quota), ``latency_seconds``, ``hold_writes_seconds`` and
        ``hold_writes_fraction``."""
        config: dict[str, Any] = self._call("POST", "/config", json=settings)
        return config

    def reset(self) -> None:
        self._call("POST", "/reset")

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll ``/healthz`` until it answers, or raise ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/healthz")
                return
            except (httpx.HTTPError, EmulatorControlError):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"emulator at {self.base_url} not ready after {timeout}s") from None
                time.sleep(0.05)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
