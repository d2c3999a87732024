"""Drift correction at resync, connection and certificate health in status, conditions and Events."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import RESYNC_ANNOTATION
from tests.e2e.helpers import (
    ONE_EXPIRED_CERTIFICATE,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
    wait_for_event,
)

pytestmark = pytest.mark.e2e
HOSTS = ["sbc1.health.example.com", "sbc2.health.example.com"]


def _create(plane: LocalControlPlane, kube: k8s.CustomObjectsApi, namespace: str, name: str,
            manifest: str) -> str:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)
    trunk_name: str = wait_for_condition(kube, namespace, name, "Connected", "True")["status"]["name"]
    return trunk_name


def test_out_of_band_edit_is_reverted_at_resync(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    manifest = trunk_manifest("drifty", project_id, HOSTS, "As declared")
    trunk_name = _create(control_plane, kube, namespace, "drifty", manifest)
    control_plane.kubectl("annotate", "-n", namespace, "siptrunk/drifty", f"{RESYNC_ANNOTATION}=10")
    control.edit_trunk(trunk_name, displayName="Edited in the console", expectedHostname=["x.example.com"])
    # Seen at once (from the listing) as Drifted, reverted at the next resync.
    obj = wait_for_condition(kube, namespace, "drifty", "Ready", "False", reason="Drifted", timeout=10)
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]}["Reconciling"] == "True"
    _, _, message = wait_for_event(core, namespace, "drifty", "DriftReverted", timeout=30)
    assert "displayName" in message and "expectedHostname" in message
    (trunk,) = project_trunks(control, project_id)
    assert trunk["displayName"] == "As declared"
    assert sorted(trunk["expectedHostname"]) == HOSTS
    wait_for_condition(kube, namespace, "drifty", "Ready", "True", reason="UpToDate")


def test_connection_and_certificate_states_reach_status_and_events(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, project_id: str,
) -> None:
    trunk_name = _create(control_plane, kube, namespace, "certs",
                         trunk_manifest("certs", project_id, HOSTS, "Certificates"))
    control.set_connections(trunk_name, ONE_EXPIRED_CERTIFICATE)
    obj = wait_for_condition(kube, namespace, "certs", "CertificatesValid", "False",
                             reason="CERTIFICATE_EXPIRED", timeout=30)
    status = obj["status"]
    assert status["connected"] == "1/2"
    assert status["certificates"] == "Invalid"
    failing = next(c for c in status["connections"] if c["connectionId"] == "conn-b")
    assert failing["errorDetails"] == {"certificateState": "CERTIFICATE_EXPIRED",
                                       "errorMessage": "peer certificate expired on 2026-11-01"}
    cert = next(c for c in status["conditions"] if c["type"] == "CertificatesValid")
    assert "peer certificate expired on 2026-11-01" in cert["message"]
    assert cert["observedGeneration"] == obj["metadata"]["generation"]
    kind, _, message = wait_for_event(core, namespace, "certs", "ConnectionUnhealthy", contains="conn-b")
    assert kind == "Warning"
    assert message == "Connection conn-b: absent → AUTHENTICATION_FAILED (CERTIFICATE_EXPIRED)"
    waited = control_plane.kubectl("wait", "-n", namespace, "--for=condition=CertificatesValid=false",
                                   "siptrunk/certs", "--timeout=10s", check=False)
    assert waited.returncode == 0, waited.stderr

    control.set_connections(trunk_name, [{"connectionId": "conn-a", "state": "DISCONNECTED"}])
    obj = wait_for_condition(kube, namespace, "certs", "Connected", "False", reason="Disconnected", timeout=30)
    assert condition_status(obj, "CertificatesValid") == "True"
    table = control_plane.kubectl("get", "siptrunk", "certs", "-n", namespace).stdout
    assert "0/1" in table.splitlines()[1]


def condition_status(obj: dict[str, object], kind: str) -> str | None:
    status = obj["status"]
    assert isinstance(status, dict)
    return next((c["status"] for c in status["conditions"] if c["type"] == kind), None)


def test_newer_fields_are_sent_when_set(
    operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str,
) -> None:
    manifest = trunk_manifest("newer", project_id, HOSTS, "Newer", peerHostnames=["sbc1.health.example.com"],
                              googleRootCertFile="EXTERNAL_PRIVATE_CA")
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)
    wait_for_condition(kube, namespace, "newer", "Ready", "True")
    (trunk,) = project_trunks(control, project_id)
    assert [p["peerHostname"] for p in trunk["peerHostnames"]] == ["sbc1.health.example.com"]
    assert trunk["googleRootCertFile"] == "EXTERNAL_PRIVATE_CA"
    obj = wait_for(lambda: get_trunk(kube, namespace, "newer")["status"].get("peerHostnames"),
                   message="per-hostname state in status")
    assert obj[0]["peerHostname"] == "sbc1.health.example.com"
