"""A trunk's whole life through kubectl, checked on both sides: the object and the emulator."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from tests.e2e.helpers import (
    condition,
    events_for,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_event,
)

pytestmark = pytest.mark.e2e

HOSTNAMES = ["sbc1.carrier.example.com", "sbc2.carrier.example.com"]


def _apply(plane: LocalControlPlane, namespace: str, manifest: str) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)


def _writes(control: EmulatorControl, project: str) -> list[dict[str, object]]:
    return [
        entry for entry in control.requests(path_contains=f"/projects/{project}/")
        if entry["method"] in ("POST", "PATCH", "DELETE")
    ]


def _ready_and_connected(kube: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, object]:
    def check() -> dict[str, object] | None:
        obj = get_trunk(kube, namespace, name)
        ready = condition(obj, "Ready")
        if ready and ready["status"] == "True" and obj["status"].get("connected") == "2/2":
            return obj
        return None

    result: dict[str, object] = wait_for(check, timeout=60, message="Ready=True and 2/2 connected")
    return result


def test_create_update_delete(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    manifest = trunk_manifest("carrier", project_id, HOSTNAMES, "Carrier A")
    _apply(control_plane, namespace, manifest)

    waited = control_plane.kubectl("wait", "-n", namespace, "--for=condition=Ready", "siptrunk/carrier",
                                   "--timeout=60s", check=False, timeout=90)
    assert waited.returncode == 0, waited.stderr

    # Exactly one trunk in the emulator, with the spec's hostnames and display name.
    trunks = project_trunks(control, project_id)
    assert len(trunks) == 1
    trunk = trunks[0]
    assert sorted(trunk["expectedHostname"]) == HOSTNAMES
    assert trunk["displayName"] == "Carrier A"

    obj = _ready_and_connected(kube, namespace, "carrier")
    status = obj["status"]
    assert isinstance(status, dict)
    assert status["name"] == trunk["name"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]  # type: ignore[index]
    assert {c["state"] for c in status["connections"]} == {"CONNECTED"}
    assert condition(obj, "Connected")["status"] == "True"  # type: ignore[index]

    # kubectl get shows the printer columns with real values.
    table = control_plane.kubectl("get", "siptrunks", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:8] == ["NAME", "DISPLAY", "NAME", "HOSTNAMES", "CONNECTED", "CERTIFICATES", "READY",
                                  "REASON"]
    assert "Carrier A" in row and "2/2" in row and "Valid" in row and "True" in row and "UpToDate" in row
    assert ",".join(HOSTNAMES) in row

    # Changing displayName sends exactly one PATCH, masked to displayName.
    control.clear_requests()
    _apply(control_plane, namespace, trunk_manifest("carrier", project_id, HOSTNAMES, "Carrier A (new)"))
    wait_for(lambda: project_trunks(control, project_id)[0].get("displayName") == "Carrier A (new)",
             message="the emulator's trunk to be renamed")
    writes = _writes(control, project_id)
    assert [w["method"] for w in writes] == ["PATCH"]
    query = writes[0]["query"]
    assert isinstance(query, dict)
    assert query["updateMask"] == "displayName"
    wait_for(lambda: get_trunk(kube, namespace, "carrier")["status"]["observedGeneration"] == 2,
             message="observedGeneration 2")

    _, _, message = wait_for_event(core, namespace, "carrier", "Updated")
    assert "displayName" in message

    # Re-applying the same manifest, or the hostnames in another order, writes nothing at all.
    control.clear_requests()
    _apply(control_plane, namespace, trunk_manifest("carrier", project_id, HOSTNAMES, "Carrier A (new)"))
    _apply(control_plane, namespace, trunk_manifest("carrier", project_id, HOSTNAMES[::-1], "Carrier A (new)"))
    # The reordered list is a new generation: wait until the operator has handled it (compared with
    # the trunk as listed, observedGeneration 3 on Ready), then check that it wrote nothing.
    wait_for(lambda: (condition(get_trunk(kube, namespace, "carrier"), "Ready") or {}).get("observedGeneration") == 3,
             message="Ready at observedGeneration 3")
    assert _writes(control, project_id) == []

    # Delete removes the trunk from the API, then the object goes.
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/carrier", "--timeout=60s", timeout=90)
    assert project_trunks(control, project_id) == []
    assert [w["method"] for w in _writes(control, project_id)] == ["DELETE"]
    reasons = [event[1] for event in events_for(core, namespace, "carrier")]
    assert {"Created", "Updated", "Deleted"} <= set(reasons)


def test_explain_shows_descriptions(control_plane: LocalControlPlane) -> None:
    def explain() -> str:
        result = control_plane.kubectl("explain", "siptrunk.spec", check=False)
        return result.stdout if result.returncode == 0 else ""

    text: str = wait_for(explain, timeout=30, message="kubectl explain to find the CRD")
    assert "expectedHostname" in text
    assert "Hostnames expected in the TLS certificate" in text
    assert "projectID" in text and "Immutable" in text
    field = control_plane.kubectl("explain", "siptrunk.spec.expectedHostname").stdout
    assert "no wildcard" in field
