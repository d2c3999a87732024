"""200 trunks: the steady state refreshes connection state with list calls, not a GET per trunk,
and status follows a change in the API within 60 s. Uses the operator's default cadence."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
import yaml
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.helpers import get_trunk, project_trunks, trunk_manifest, wait_for

pytestmark = pytest.mark.e2e
COUNT = 200
DEFAULT_CADENCE = {
    "SIPTRUNK_REFRESH_FAST_SECONDS": "10",
    "SIPTRUNK_REFRESH_SLOW_SECONDS": "30",
    "SIPTRUNK_REQUESTS_PER_MINUTE": "6000",  # only so that 200 creates do not take 200 s
}


def _ready_count(kube: k8s.CustomObjectsApi, namespace: str) -> int:
    items = kube.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    return sum(
        any(c["type"] == "Ready" and c["status"] == "True" for c in i.get("status", {}).get("conditions", []))
        for i in items
    )


def _classify(entries: list[dict[str, object]], project: str) -> Counter[str]:
    collection = f"/projects/{project}/locations/global/sipTrunks"
    kinds: Counter[str] = Counter()
    for entry in entries:
        path = str(entry["path"])
        if entry["method"] == "GET":
            kinds["list" if path.endswith(collection) else "get"] += 1
        else:
            kinds[str(entry["method"])] += 1
    return kinds


def test_steady_state_uses_list_calls_and_status_follows_within_60s(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    namespace = isolated_namespace
    manifests = [
        yaml.safe_load(trunk_manifest(f"trunk-{i:03d}", project_id, [f"sbc{i}.scale.example.com"],
                                      deletionPolicy="Abandon"))
        for i in range(COUNT)
    ]
    with operator_factory(namespaces=("iso-*",), **DEFAULT_CADENCE):
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(manifests),
                              timeout=120)
        wait_for(lambda: _ready_count(kube, namespace) == COUNT, timeout=240, interval=2,
                 message=f"{COUNT} trunks Ready")
        assert len(project_trunks(control, project_id)) == COUNT

        control.clear_requests()
        window = 40.0
        time.sleep(window)
        calls = _classify(control.requests(path_contains=f"/projects/{project_id}/"), project_id)
        print(f"\nsteady state over {window:.0f}s with {COUNT} trunks: {dict(calls)}")
        assert calls["get"] == 0 and calls["POST"] == calls["PATCH"] == calls["DELETE"] == 0
        assert 1 <= calls["list"] <= 6  # one call covers the whole parent; ≤ 9 a minute
        per_trunk_gets = COUNT * window / 30  # what one GET per trunk every 30 s would cost
        assert calls["list"] * 20 < per_trunk_gets

        target = get_trunk(kube, namespace, "trunk-123")["status"]["name"]
        changed = time.monotonic()
        control.set_connections(target, [{"connectionId": "c-1", "state": "DISCONNECTED"}])
        wait_for(lambda: get_trunk(kube, namespace, "trunk-123")["status"].get("connected") == "0/1",
                 timeout=60, interval=1, message="status to follow the emulator within 60 s")
        print(f"status followed the API in {time.monotonic() - changed:.1f}s")
        control_plane.kubectl("delete", "-n", namespace, "siptrunks", "--all", "--timeout=120s", timeout=150)


def test_restart_does_not_reread_settled_trunks_one_by_one(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    namespace = isolated_namespace
    manifests = [yaml.safe_load(trunk_manifest(f"settled-{i}", project_id, [f"sbc{i}.restart.example.com"],
                                               deletionPolicy="Abandon")) for i in range(5)]
    with operator_factory(namespaces=("iso-*",)):
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(manifests))
        wait_for(lambda: _ready_count(kube, namespace) == 5, timeout=60, message="5 trunks Ready")
    control.clear_requests()
    with operator_factory(namespaces=("iso-*",)):
        wait_for(lambda: control.requests(method="GET", path_contains=f"/projects/{project_id}/"), timeout=30,
                 message="the restarted operator's first listing")
        time.sleep(3)
        calls = _classify(control.requests(path_contains=f"/projects/{project_id}/"), project_id)
        assert calls["list"] >= 1
        assert calls["get"] == 0 and sum(calls.values()) == calls["list"], calls
        assert _ready_count(kube, namespace) == 5
        control_plane.kubectl("delete", "-n", namespace, "siptrunks", "--all", "--timeout=60s", timeout=90)
