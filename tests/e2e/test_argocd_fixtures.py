"""The Argo CD health check (deploy/argocd/siptrunk-health.lua) on live SipTrunks in each phase.

Each phase is produced for real, on the local control plane with the operator and the emulator:
creating (the create call held by a latency fault), ready, certificate expired (the emulator's scripted
connections), stalled (a 400 on create: InvalidSpec) and deleting (a 403 on delete keeps the finalizer).
The Lua verdict is checked on the live object. `SIPTRUNK_CAPTURE_FIXTURES=DIR` also saves each phase's
object as `DIR/<phase>.json` (never replacing a file already there): that is how
`tests/fixtures/objects/cert-expired.json` was captured; the other four there come from
tests/e2e/test_kstatus.py. tests/unit/test_argocd_health.py runs the script on all five.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION
from siptrunk_operator.settings import FINALIZER
from tests.argocd_lua import Health, argocd_health
from tests.e2e.helpers import (
    ONE_EXPIRED_CERTIFICATE,
    condition,
    dump,
    get_trunk,
    trunk_manifest,
    wait_for,
    wait_for_condition,
)

pytestmark = pytest.mark.e2e
CAPTURE_ENV = "SIPTRUNK_CAPTURE_FIXTURES"
HOSTS = ["sbc1.argocd.example.com", "sbc2.argocd.example.com"]
CREATE_LATENCY_SECONDS = 8.0


def _check(obj: dict[str, Any], phase: str, expected: str) -> Health:
    """The Lua verdict on the live object; the object is saved as a fixture when capturing."""
    health = argocd_health(obj)
    assert health.status == expected, (
        f"{phase}: the health check says {health.status} ({health.message!r}), expected {expected}.\n"
        f"metadata: {dump({k: obj['metadata'].get(k) for k in ('generation', 'deletionTimestamp', 'finalizers')})}\n"
        f"status: {dump(obj.get('status'))}")
    directory = os.environ.get(CAPTURE_ENV)
    if directory:
        path = Path(directory) / f"{phase}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # as tests/e2e/test_kstatus.py saves them: managedFields dropped, nothing else
            saved = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
            path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    return health


def _status_of(obj: dict[str, Any], kind: str) -> str | None:
    found = condition(obj, kind)
    return None if found is None else str(found["status"])


def test_health_through_create_ready_certificate_expiry_and_delete(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    projects = f"/projects/{project_id}/"
    control.add_fault("latency", method="POST", path=projects, latency=CREATE_LATENCY_SECONDS, times=1)
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("argo", project_id, HOSTS, "Argo CD"))

    # Creating: the marker is stored and the create call is in flight (held by the latency fault).
    creating = wait_for(
        lambda: (obj := get_trunk(kube, namespace, "argo"))
        and CREATE_PENDING_ANNOTATION in (obj["metadata"].get("annotations") or {}) and obj,
        timeout=CREATE_LATENCY_SECONDS, interval=0.2, message="the create-pending marker")
    assert _status_of(creating, "Ready") != "True"
    _check(creating, "creating", "Progressing")

    ready = wait_for_condition(kube, namespace, "argo", "Connected", "True")
    ready = wait_for_condition(kube, namespace, "argo", "Ready", "True", reason="UpToDate")
    health = _check(ready, "ready", "Healthy")
    assert ready["status"]["connected"] in health.message

    trunk_name = ready["status"]["name"]
    control.set_connections(trunk_name, ONE_EXPIRED_CERTIFICATE)
    expired = wait_for_condition(kube, namespace, "argo", "CertificatesValid", "False",
                                 reason="CERTIFICATE_EXPIRED", timeout=30)
    assert _status_of(expired, "Ready") == "True"  # the trunk matches spec: only the certificate is wrong
    health = _check(expired, "cert-expired", "Degraded")
    assert "CERTIFICATE_EXPIRED" in health.message

    # Deleting: a 403 on DELETE keeps the finalizer (Stalled, PermissionDenied) while deletion is pending.
    control.add_fault(method="DELETE", path=projects, status=403)
    control_plane.kubectl("delete", "-n", namespace, "siptrunk/argo", "--wait=false")
    deleting = wait_for_condition(kube, namespace, "argo", "Synced", "False", reason="PermissionDenied")
    assert deleting["metadata"].get("deletionTimestamp") and FINALIZER in deleting["metadata"]["finalizers"]
    health = _check(deleting, "deleting", "Progressing")
    assert "deletion" in health.message.lower()

    control.clear_faults()  # the permission is granted: the next retry deletes
    wait_for(lambda: control_plane.kubectl("get", "-n", namespace, "siptrunk/argo", check=False).returncode != 0,
             timeout=60, message="the object to be deleted once DELETE is allowed")


def test_health_of_a_stalled_trunk(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    control.add_fault(method="POST", path=f"/projects/{project_id}/", status=400,
                      message="Invalid value at 'sip_trunk.expected_hostname'")
    try:
        control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                              input_text=trunk_manifest("argo-stalled", project_id, HOSTS, "Stalled"))
        stalled = wait_for_condition(kube, namespace, "argo-stalled", "Stalled", "True", reason="InvalidSpec")
        health = _check(stalled, "stalled", "Degraded")
        assert "InvalidSpec" in health.message
    finally:
        control.clear_faults()
