"""Create is not idempotent (the API assigns the name): crashes and lost responses end with one trunk."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION, TRUNK_NAME_ANNOTATION
from siptrunk_operator.settings import FINALIZER
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.helpers import (
    api_writes,
    create_in_api,
    events_for,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
    wait_for_event,
)

pytestmark = pytest.mark.e2e
HOSTS = ["sbc1.identity.example.com"]


def test_sigkill_between_create_and_recording_ends_with_one_trunk(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, isolated_namespace: str,
    project_id: str,
) -> None:
    namespace = isolated_namespace
    # The emulator holds the create for 3 s before committing it; the operator dies meanwhile,
    # after its POST reached the emulator and before it could record the name.
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="latency", latency=3.0, times=1)
    first = operator_factory(namespaces=("iso-*",))
    first.start()
    try:
        control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                              input_text=trunk_manifest("crashy", project_id, HOSTS, "Crashy"))
        wait_for(lambda: control.requests(method="POST", path_contains=f"/projects/{project_id}/")
                 or CREATE_PENDING_ANNOTATION in get_trunk(kube, namespace, "crashy")["metadata"].get(
                     "annotations", {}), message="the create to be in flight")
        time.sleep(1.0)
    finally:
        first.stop(hard=True)
    wait_for(lambda: len(project_trunks(control, project_id)) == 1, timeout=15,
             message="the interrupted create to commit in the emulator")
    annotations = get_trunk(kube, namespace, "crashy")["metadata"].get("annotations", {})
    assert CREATE_PENDING_ANNOTATION in annotations and TRUNK_NAME_ANNOTATION not in annotations

    with operator_factory(namespaces=("iso-*",)):
        obj = wait_for_condition(kube, namespace, "crashy", "Ready", "True")
        (trunk,) = project_trunks(control, project_id)
        assert obj["status"]["name"] == trunk["name"]
        assert obj["metadata"]["annotations"][TRUNK_NAME_ANNOTATION] == trunk["name"]
        assert CREATE_PENDING_ANNOTATION not in obj["metadata"]["annotations"]
        wait_for_event(core, namespace, "crashy", "Recovered")
        time.sleep(2)
        assert len(project_trunks(control, project_id)) == 1
        assert len(control.requests(method="POST", path_contains=f"/projects/{project_id}/")) == 1
        control_plane.kubectl("delete", "-n", namespace, "siptrunk/crashy", "--timeout=60s", timeout=90)


def test_lost_create_response_ends_with_one_trunk(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="lost_response", times=1)
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("lossy", project_id, HOSTS, "Lossy"))
    obj = wait_for_condition(kube, namespace, "lossy", "Ready", "True")
    (trunk,) = project_trunks(control, project_id)
    assert obj["status"]["name"] == trunk["name"]
    wait_for_event(core, namespace, "lossy", "Recovered")
    reasons = [event[1] for event in events_for(core, namespace, "lossy")]
    assert "OutcomeUnknown" in reasons
    assert len(control.requests(method="POST", path_contains=f"/projects/{project_id}/")) == 1
    assert len(project_trunks(control, project_id)) == 1


def test_identity_survives_a_lost_status(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    """A status wiped (backup and restore) does not make the operator create a second trunk."""
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("restored", project_id, HOSTS, "Restored"))
    obj = wait_for_condition(kube, namespace, "restored", "Ready", "True")
    name = obj["status"]["name"]
    control_plane.kubectl("patch", "-n", namespace, "siptrunk/restored", "--subresource=status",
                          "--type=merge", "-p", '{"status": null}')
    control_plane.kubectl("annotate", "-n", namespace, "siptrunk/restored", "touch=1")
    wait_for(lambda: get_trunk(kube, namespace, "restored").get("status", {}).get("name") == name,
             message="the status to be rebuilt from the annotation")
    assert [t["name"] for t in project_trunks(control, project_id)] == [name]


def _interrupted(manifest: str) -> str:
    """A manifest as left by a crash mid-create: the pending marker and no recorded name."""
    return manifest.replace("metadata:\n", f"metadata:\n  annotations:\n    {CREATE_PENDING_ANNOTATION}: "
                                           "'2026-11-27T00:00:00Z'\n", 1)


def test_interrupted_create_with_several_matches_stops_and_says_how_to_resolve(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    first = create_in_api(emulator_url, project_id, HOSTS, "Twin")
    second = create_in_api(emulator_url, project_id, HOSTS, "Twin")
    control.clear_requests()
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=_interrupted(trunk_manifest("twin", project_id, HOSTS, "Twin")))
    obj = wait_for_condition(kube, namespace, "twin", "Ready", "False", reason="CreateOutcomeUnknown")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert first["name"] in ready["message"] and second["name"] in ready["message"]
    assert "spec.resourceID" in ready["message"]
    wait_for_event(core, namespace, "twin", "CreateOutcomeUnknown")
    assert api_writes(control, project_id) == []
    assert len(project_trunks(control, project_id)) == 2


def test_interrupted_create_with_no_match_creates_once(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    create_in_api(emulator_url, project_id, ["other.example.com"], "Not a match")
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=_interrupted(trunk_manifest("fresh", project_id, HOSTS, "Fresh")))
    obj = wait_for_condition(kube, namespace, "fresh", "Ready", "True")
    assert len(project_trunks(control, project_id)) == 2
    assert [w["method"] for w in api_writes(control, project_id)] == ["POST", "POST"]
    assert CREATE_PENDING_ANNOTATION not in obj["metadata"]["annotations"]


def test_existing_unowned_match_is_not_taken_silently(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl, emulator_url: str,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    existing = create_in_api(emulator_url, project_id, HOSTS, "Made in the console")
    control.clear_requests()
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("lookalike", project_id, HOSTS, "Made in the console"))
    obj = wait_for_condition(kube, namespace, "lookalike", "Stalled", "True", reason="ExistingTrunkFound")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and existing["name"] in ready["message"]
    assert "spec.resourceID" in ready["message"]
    assert api_writes(control, project_id) == []
    # Following the message (a spec change) takes effect at once, not after the 900 s back-off.
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=trunk_manifest(
        "lookalike", project_id, HOSTS, "Made in the console", resourceID=existing["name"]))
    obj = wait_for_condition(kube, namespace, "lookalike", "Ready", "True", timeout=30)
    assert obj["status"]["name"] == existing["name"]
    assert "POST" not in [w["method"] for w in api_writes(control, project_id)]


def test_deleting_an_object_with_an_interrupted_create_deletes_its_trunk(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane, control: EmulatorControl,
    emulator_url: str, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    """A crash left the marker and a trunk but no name, and the object is deleted before any
    operator runs again: the delete must find that trunk and remove it, not orphan it."""
    namespace = isolated_namespace
    made = create_in_api(emulator_url, project_id, HOSTS, "Orphan?")
    manifest = _interrupted(trunk_manifest("leaving", project_id, HOSTS, "Orphan?")).replace(
        "metadata:\n", f"metadata:\n  finalizers: [{FINALIZER}]\n", 1)
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/leaving", "--wait=false")
    control.clear_requests()
    with operator_factory(namespaces=("iso-*",)):
        wait_for(lambda: not project_trunks(control, project_id), message="the orphan-to-be to be deleted")
        wait_for(lambda: not kube.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
                 message="the object to disappear")
    deletes = [w for w in api_writes(control, project_id) if w["method"] == "DELETE"]
    assert [d["path"].rsplit("/", 1)[-1] for d in deletes] == [made["name"].rsplit("/", 1)[-1]]
    assert "POST" not in [w["method"] for w in api_writes(control, project_id)]
