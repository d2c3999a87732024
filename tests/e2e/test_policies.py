"""Adoption, ObserveOnly, Abandon, conflicts and out-of-band deletion, end to end."""

from __future__ import annotations

import time

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from tests.e2e.helpers import (
    api_writes,
    create_in_api,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
    wait_for_event,
)

pytestmark = pytest.mark.e2e
HOSTS = ["sbc1.policy.example.com", "sbc2.policy.example.com"]


def _apply(plane: LocalControlPlane, namespace: str, manifest: str) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)


def _trunk_id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def test_resource_id_adopts_and_brings_to_spec(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    existing = create_in_api(emulator_url, project_id, HOSTS, "Made by hand")
    control.clear_requests()
    _apply(control_plane, namespace, trunk_manifest("adopted", project_id, HOSTS, "Managed now",
                                                     resourceID=_trunk_id(existing["name"])))
    obj = wait_for_condition(kube, namespace, "adopted", "Ready", "True")
    assert obj["status"]["name"] == existing["name"]
    wait_for_event(core, namespace, "adopted", "Adopted")
    (trunk,) = project_trunks(control, project_id)
    assert trunk["displayName"] == "Managed now"
    writes = api_writes(control, project_id)
    assert [w["method"] for w in writes] == ["PATCH"]
    assert writes[0]["query"]["updateMask"] == "displayName"


def test_observe_only_never_writes(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    existing = create_in_api(emulator_url, project_id, HOSTS, "Someone else's")
    control.clear_requests()
    _apply(control_plane, namespace, trunk_manifest(
        "watched", project_id, ["other.example.com"], "Different", resourceID=existing["name"],
        managementPolicy="ObserveOnly"))
    obj = wait_for_condition(kube, namespace, "watched", "Ready", "True", reason="Observed")
    wait_for(lambda: get_trunk(kube, namespace, "watched")["status"].get("connected") == "2/2",
             message="the observed trunk's connections in status")
    assert obj["status"]["hostnames"] == ",".join(HOSTS)
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/watched", "--timeout=60s", timeout=90)
    assert api_writes(control, project_id) == []
    assert [t["name"] for t in project_trunks(control, project_id)] == [existing["name"]]
    assert project_trunks(control, project_id)[0]["displayName"] == "Someone else's"


def test_abandon_leaves_the_trunk(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    _apply(control_plane, namespace, trunk_manifest("kept", project_id, HOSTS, deletionPolicy="Abandon"))
    name = wait_for_condition(kube, namespace, "kept", "Ready", "True")["status"]["name"]
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/kept", "--timeout=60s", timeout=90)
    assert [t["name"] for t in project_trunks(control, project_id)] == [name]
    assert "DELETE" not in [w["method"] for w in api_writes(control, project_id)]
    wait_for_event(core, namespace, "kept", "Abandoned", contains="deletionPolicy Abandon")


def test_second_owner_gets_conflict_and_never_writes(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    existing = create_in_api(emulator_url, project_id, HOSTS, "Shared")
    _apply(control_plane, namespace, trunk_manifest("first", project_id, HOSTS, "Shared",
                                                     resourceID=existing["name"]))
    wait_for_condition(kube, namespace, "first", "Ready", "True")
    control.clear_requests()
    _apply(control_plane, namespace, trunk_manifest("second", project_id, HOSTS, "Hijack",
                                                     resourceID=existing["name"], deletionPolicy="Delete"))
    obj = wait_for_condition(kube, namespace, "second", "Ready", "False", reason="Conflict")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert f"{namespace}/first" in ready["message"]
    # A reader is not an owner: ObserveOnly on the same trunk sees it without conflict.
    _apply(control_plane, namespace, trunk_manifest("reader", project_id, HOSTS, resourceID=existing["name"],
                                                     managementPolicy="ObserveOnly"))
    wait_for_condition(kube, namespace, "reader", "Ready", "True", reason="Observed")
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/second", "siptrunk/reader", "--timeout=60s",
                          timeout=90)
    assert api_writes(control, project_id) == []
    (trunk,) = project_trunks(control, project_id)
    assert trunk["displayName"] == "Shared"


def test_out_of_band_delete_is_reported_then_recreated_on_opt_in(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    _apply(control_plane, namespace, trunk_manifest("fragile", project_id, HOSTS, "Fragile"))
    old_name = wait_for_condition(kube, namespace, "fragile", "Ready", "True")["status"]["name"]
    control.delete_trunk(old_name)
    obj = wait_for_condition(kube, namespace, "fragile", "Ready", "False", reason="NotFoundInAPI")
    wait_for_event(core, namespace, "fragile", "NotFoundInAPI")
    # Health of a trunk that does not exist is Unknown, never a stale True.
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Connected"] == "Unknown"
    assert "connections" not in obj["status"] and "connected" not in obj["status"]
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Stalled"] == "True"
    time.sleep(3)
    assert project_trunks(control, project_id) == []

    _apply(control_plane, namespace, trunk_manifest("fragile", project_id, HOSTS, "Fragile",
                                                     recreateIfMissing=True))
    obj = wait_for_condition(kube, namespace, "fragile", "Ready", "True")
    (trunk,) = project_trunks(control, project_id)
    assert obj["status"]["name"] == trunk["name"] != old_name
    _, _, message = wait_for_event(core, namespace, "fragile", "Recreated")
    assert old_name in message and trunk["name"] in message
