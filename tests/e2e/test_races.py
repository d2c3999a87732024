"""Races a production operator meets: a status write computed before an edit must never land after
it, across a kube-apiserver restart."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.helpers import condition, project_trunks, trunk_manifest, wait_for

pytestmark = pytest.mark.e2e

COUNT = 20


def _manifests(project: str, display: str) -> str:
    return "---\n".join(trunk_manifest(f"race-{i}", project, [f"sbc{i}.race.example.com"], f"{display} {i}")
                        for i in range(COUNT))


def _listed(kube: k8s.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    try:
        items: list[dict[str, Any]] = kube.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    except Exception:  # the API server is restarting
        return []
    return items


def _generations(obj: dict[str, Any]) -> tuple[int, int]:
    ready = condition(obj, "Ready") or {}
    return int(obj.get("status", {}).get("observedGeneration") or 0), int(ready.get("observedGeneration") or 0)


def test_a_stale_status_write_never_wins_after_an_apiserver_restart(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=_manifests(project_id, "Before"))

    def all_ready() -> bool:
        items = _listed(kube, namespace)
        return len(items) == COUNT and all((condition(o, "Ready") or {}).get("status") == "True" for o in items)

    wait_for(all_ready, timeout=120, message=f"{COUNT} trunks Ready")

    seen: dict[str, list[tuple[int, int]]] = {}
    stop = threading.Event()

    def record() -> None:  # every status a reader could see, in order
        while not stop.is_set():
            for obj in _listed(kube, namespace):
                seen.setdefault(obj["metadata"]["name"], []).append(_generations(obj))
            time.sleep(0.2)

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    try:
        for trunk in project_trunks(control, project_id):  # status writes in flight from the listing
            control.set_connections(trunk["name"], [{"connectionId": "c1", "state": "DISCONNECTED"}])
        time.sleep(1.5)
        control_plane.restart_apiserver(hard=True)
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=_manifests(project_id, "After"))

        def all_applied() -> bool:
            items = _listed(kube, namespace)
            return len(items) == COUNT and all(
                _generations(o) == (2, 2) and (condition(o, "Ready") or {}).get("status") == "True" for o in items)

        wait_for(all_applied, timeout=120, message="every edit applied and reported at generation 2")
        time.sleep(8)  # anything still in flight has landed by now
    finally:
        stop.set()
        recorder.join(timeout=10)

    final = {o["metadata"]["name"]: o for o in _listed(kube, namespace)}
    assert all(_generations(o) == (2, 2) for o in final.values()), {n: _generations(o) for n, o in final.items()}
    displays = sorted(t.get("displayName", "") for t in project_trunks(control, project_id))
    assert displays == sorted(f"After {i}" for i in range(COUNT))
    for name, history in seen.items():
        observed = [generation for generation, _ in history]
        assert observed == sorted(observed), f"{name}: status.observedGeneration went backwards: {observed}"
