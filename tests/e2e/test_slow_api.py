"""A slow API: a create still in flight when the operator dies, a delete meanwhile, and progress a
person (and kstatus) can read while writes are held or keep failing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import (
    condition,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
)

pytestmark = pytest.mark.e2e
HOSTS = ["sbc1.slow.example.com"]
SETTLE_SECONDS = float(FAST_OPERATOR_ENV["SIPTRUNK_CREATE_DEADLINE_SECONDS"]) + float(
    FAST_OPERATOR_ENV["SIPTRUNK_CREATE_SETTLE_MARGIN_SECONDS"])
HOLD_SECONDS = 6.0
"""How long the emulator holds the create before committing it: longer than a restart takes."""


def _posts(control: EmulatorControl, project_id: str) -> list[object]:
    return control.requests(method="POST", path_contains=f"/projects/{project_id}/")


def _kill_mid_create(operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
                     control: EmulatorControl, namespace: str, project_id: str, name: str) -> None:
    """Apply an object, and SIGKILL the operator right after its POST reached the (holding) API."""
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="latency", latency=HOLD_SECONDS,
                      times=1)
    first = operator_factory(namespaces=("iso-*",))
    first.start()
    try:
        control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                              input_text=trunk_manifest(name, project_id, HOSTS, "Slow"))
        wait_for(lambda: _posts(control, project_id), message="the create to reach the API")
    finally:
        first.stop(hard=True)


def test_a_create_in_flight_when_the_operator_dies_is_waited_for_not_repeated(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    namespace = isolated_namespace
    _kill_mid_create(operator_factory, control_plane, control, namespace, project_id, "slow")
    killed_at = time.monotonic()
    with operator_factory(namespaces=("iso-*",)):
        # The restarted operator lists long before the held create commits: it must not create again.
        obj = wait_for_condition(kube, namespace, "slow", "Ready", "False", reason="CreatePending", timeout=30)
        assert condition(obj, "Reconciling")["status"] == "True"
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        assert project_trunks(control, project_id) == []  # still held by the API
        obj = wait_for_condition(kube, namespace, "slow", "Ready", "True", timeout=60)
        assert time.monotonic() - killed_at >= HOLD_SECONDS - 1
        (trunk,) = project_trunks(control, project_id)
        assert obj["status"]["name"] == trunk["name"]
        time.sleep(2)
        assert len(_posts(control, project_id)) == 1 and len(project_trunks(control, project_id)) == 1
        control_plane.kubectl("delete", "-n", namespace, "siptrunk/slow", "--timeout=60s", timeout=90)
        assert project_trunks(control, project_id) == []


def test_a_delete_while_a_create_is_in_doubt_waits_then_deletes_what_it_made(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    namespace = isolated_namespace
    _kill_mid_create(operator_factory, control_plane, control, namespace, project_id, "doomed")
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/doomed", "--wait=false")
    with operator_factory(namespaces=("iso-*",)):
        wait_for(lambda: len(project_trunks(control, project_id)) == 1, timeout=30,
                 message="the held create to commit while the object is being deleted")
        wait_for(lambda: not kube.list_namespaced_custom_object(
            "dialogflow.siptrunk.dev", "v1beta1", namespace, "siptrunks")["items"], timeout=60,
            message="the object to be deleted")
        assert project_trunks(control, project_id) == []  # the interrupted create's trunk went with it
        assert len(_posts(control, project_id)) == 1


def test_the_status_says_creating_before_the_create_request_and_while_it_is_held(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="latency", latency=5.0, times=1)
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("held", project_id, HOSTS, "Held"))
    wait_for(lambda: _posts(control, project_id), message="the create to reach the API")
    obj = get_trunk(kube, namespace, "held")
    assert CREATE_PENDING_ANNOTATION in obj["metadata"]["annotations"]
    ready, reconciling = condition(obj, "Ready"), condition(obj, "Reconciling")
    assert (ready["status"], ready["reason"]) == ("False", "Creating")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "Creating")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    wait_for_condition(kube, namespace, "held", "Ready", "True")


def test_a_delete_that_keeps_failing_says_synced_false_within_one_retry(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("stormy", project_id, HOSTS, "Stormy"))
    wait_for_condition(kube, namespace, "stormy", "Ready", "True")
    control.add_fault(method="DELETE", path=f"/projects/{project_id}/", status=503)
    try:
        control_plane.kubectl("delete", "-n", namespace, "siptrunk/stormy", "--wait=false")
        started = time.monotonic()
        obj = wait_for_condition(kube, namespace, "stormy", "Synced", "False", reason="APIUnavailable", timeout=20)
        assert time.monotonic() - started < 10  # the first retry comes after about 1 s
        assert "delete" in condition(obj, "Synced")["message"]
        assert len(project_trunks(control, project_id)) == 1
    finally:
        control.clear_faults()
    wait_for(lambda: not project_trunks(control, project_id), timeout=90, message="the delete to go through")
