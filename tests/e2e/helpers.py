"""Helpers for end-to-end tests: manifests, polling and emulator queries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import yaml
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.spec import GROUP, PLURAL, VERSION


def trunk_manifest(name: str, project: str, hostnames: list[str], display_name: str | None = None,
                   **spec: Any) -> str:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SipTrunk",
        "metadata": {"name": name},
        "spec": {"projectID": project, "expectedHostname": hostnames, **spec},
    }
    if display_name is not None:
        body["spec"]["displayName"] = display_name
    return yaml.safe_dump(body)


def get_trunk(kube: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = kube.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return obj


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.5,
             message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}; last value: {last!r}")


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return dict(cond)
    return None


def project_trunks(control: EmulatorControl, project: str) -> list[dict[str, Any]]:
    return [t for t in control.trunks() if t["name"].startswith(f"projects/{project}/")]


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)


def events_for(core: k8s.CoreV1Api, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of every Event about the named SipTrunk, oldest first."""
    listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    items = sorted(listed.items, key=lambda e: (e.first_timestamp or e.event_time or 0, e.metadata.name))
    return [(e.type, e.reason, e.message) for e in items]


def wait_for_event(core: k8s.CoreV1Api, namespace: str, name: str, reason: str,
                   timeout: float = 60.0, contains: str = "") -> tuple[str, str, str]:
    def find() -> tuple[str, str, str] | None:
        return next((e for e in events_for(core, namespace, name) if e[1] == reason and contains in e[2]), None)

    found: tuple[str, str, str] = wait_for(find, timeout=timeout, message=f"an Event with reason {reason}")
    return found


def wait_for_condition(kube: k8s.CustomObjectsApi, namespace: str, name: str, kind: str, status: str,
                       reason: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = get_trunk(kube, namespace, name)
        cond = condition(obj, kind)
        if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
            return obj
        return None

    obj: dict[str, Any] = wait_for(check, timeout=timeout,
                                   message=f"{kind}={status}" + (f" reason {reason}" if reason else ""))
    return obj


def api_writes(control: EmulatorControl, project: str) -> list[dict[str, Any]]:
    return [entry for entry in control.requests(path_contains=f"/projects/{project}/")
            if entry["method"] in ("POST", "PATCH", "DELETE")]


def create_in_api(emulator_url: str, project: str, hostnames: list[str], display_name: str | None = None,
                  location: str = "global") -> dict[str, Any]:
    """Create a trunk directly through the emulator's REST API, as another tool would."""
    body: dict[str, Any] = {"expectedHostname": hostnames}
    if display_name is not None:
        body["displayName"] = display_name
    response = httpx.post(f"{emulator_url}/v2/projects/{project}/locations/{location}/sipTrunks", json=body,
                          headers={"Authorization": "Bearer out-of-band-tool"}, timeout=10)
    response.raise_for_status()
    created: dict[str, Any] = response.json()
    return created


ONE_EXPIRED_CERTIFICATE: list[dict[str, Any]] = [
    {"connectionId": "conn-a", "state": "KEEPALIVE"},
    {"connectionId": "conn-b", "state": "AUTHENTICATION_FAILED",
     "errorDetails": {"certificateState": "CERTIFICATE_EXPIRED",
                      "errorMessage": "peer certificate expired on 2026-11-01"}},
]
"""Two connections, one of them failing on an expired certificate (for `EmulatorControl.set_connections`)."""
