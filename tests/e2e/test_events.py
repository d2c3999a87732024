"""What a person sees with `kubectl describe`: Events from siptrunk-operator, not from kopf."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from tests.e2e.helpers import trunk_manifest, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e


def test_kubectl_describe_shows_events_from_siptrunk_operator(
    operator: OperatorProcess, control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi, namespace: str,
    project_id: str,
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                          input_text=trunk_manifest("described", project_id, ["d.events.example.com"], "D"))
    wait_for_condition(kube, namespace, "described", "Ready", "True")

    def created_line() -> str | None:
        text = control_plane.kubectl("describe", "-n", namespace, "siptrunk/described").stdout
        events = text.partition("Events:")[2]
        return next((line for line in events.splitlines() if "Created" in line), None)

    line = wait_for(created_line, timeout=30, message="the Created Event in kubectl describe")
    assert "siptrunk-operator" in line and "kopf" not in line
    assert "Normal" in line and "Created trunk projects/" in line
