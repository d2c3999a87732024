"""Each API error class reaches the object as a condition reason, an Event and the right retry pace."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.settings import FINALIZER
from tests.e2e.helpers import (
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
    wait_for_event,
)

pytestmark = pytest.mark.e2e
HOSTS = ["sbc1.errors.example.com"]


def _apply(plane: LocalControlPlane, namespace: str, manifest: str) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)


def _condition(obj: dict[str, object], kind: str) -> dict[str, str]:
    status = obj["status"]
    assert isinstance(status, dict)
    found: dict[str, str] = next(c for c in status["conditions"] if c["type"] == kind)
    return found


def test_permission_denied_on_delete_keeps_the_finalizer_and_says_why(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    _apply(control_plane, namespace, trunk_manifest("guarded", project_id, HOSTS))
    name = wait_for_condition(kube, namespace, "guarded", "Ready", "True")["status"]["name"]
    control.add_fault(method="DELETE", path=f"/projects/{project_id}/", action="error", status=403)
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/guarded", "--wait=false")

    obj = wait_for_condition(kube, namespace, "guarded", "Synced", "False", reason="PermissionDenied")
    assert "dialogflow.siptrunks.delete" in _condition(obj, "Synced")["message"]
    assert FINALIZER in obj["metadata"]["finalizers"]
    _, _, message = wait_for_event(core, namespace, "guarded", "PermissionDenied")
    assert "dialogflow.siptrunks.delete" in message
    assert [t["name"] for t in project_trunks(control, project_id)] == [name]

    control.clear_faults()  # the IAM binding is fixed: the next retry deletes
    wait_for(lambda: not project_trunks(control, project_id), timeout=60, message="the trunk to be deleted")
    wait_for(lambda: _gone(kube, namespace, "guarded"), timeout=60, message="the object to disappear")


def _gone(kube: k8s.CustomObjectsApi, namespace: str, name: str) -> bool:
    try:
        get_trunk(kube, namespace, name)
    except k8s.ApiException as err:
        return bool(err.status == 404)
    return False


def test_invalid_spec_is_retried_slowly_and_a_fix_applies_at_once(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    control: EmulatorControl, kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    namespace = isolated_namespace
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="error", status=400,
                      message="SipTrunk.expected_hostname is not allowlisted for this project.")
    pace = 8.0  # SIPTRUNK_INVALID_SPEC_RETRY_SECONDS for this operator (900 s by default)
    with operator_factory(namespaces=("iso-*",), SIPTRUNK_INVALID_SPEC_RETRY_SECONDS=str(pace)):
        _apply(control_plane, namespace, trunk_manifest("rejected", project_id, HOSTS))
        obj = wait_for_condition(kube, namespace, "rejected", "Ready", "False", reason="InvalidSpec")
        first = time.monotonic()
        assert "not allowlisted" in _condition(obj, "Ready")["message"]
        assert _condition(obj, "Synced")["reason"] == "InvalidSpec"
        assert _condition(obj, "Stalled")["status"] == "True"

        def posts() -> list[dict[str, object]]:
            return control.requests(method="POST", path_contains=f"/projects/{project_id}/")

        time.sleep(pace / 2)
        assert len(posts()) == 1  # nothing before the pace is up
        wait_for(lambda: len(posts()) == 2, timeout=pace * 3, message="the paced retry")
        assert time.monotonic() - first >= pace * 0.7
        calls = control.requests(path_contains=f"/projects/{project_id}/")
        assert [c["method"] for c in calls] == ["GET", "POST", "GET", "POST"]  # list + create per attempt

        # Fixing the spec is acted on at once, not after the back-off.
        control.clear_faults()
        _apply(control_plane, namespace, trunk_manifest("rejected", project_id, HOSTS, "Fixed"))
        wait_for_condition(kube, namespace, "rejected", "Ready", "True", timeout=pace)
        assert len(project_trunks(control, project_id)) == 1
        control_plane.kubectl("delete", "-n", namespace, "siptrunk/rejected", "--timeout=60s", timeout=90)


def test_permission_denied_on_create_names_the_permission(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="error", status=403)
    _apply(control_plane, namespace, trunk_manifest("forbidden", project_id, HOSTS))
    obj = wait_for_condition(kube, namespace, "forbidden", "Ready", "False", reason="PermissionDenied")
    assert "dialogflow.siptrunks.create" in _condition(obj, "Ready")["message"]
    control.clear_faults()


def test_rate_limited_create_waits_and_then_succeeds(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control.add_fault(method="POST", path=f"/projects/{project_id}/", action="error", status=429,
                      retry_delay=2.0, times=2)
    started = time.monotonic()
    _apply(control_plane, namespace, trunk_manifest("throttled", project_id, HOSTS))
    wait_for_condition(kube, namespace, "throttled", "Ready", "True", timeout=60)
    posts = control.requests(method="POST", path_contains=f"/projects/{project_id}/")
    assert [p["status"] for p in posts] == [429, 429, 200]
    assert time.monotonic() - started >= 4.0  # both RetryInfo delays were honoured
    assert len(project_trunks(control, project_id)) == 1
