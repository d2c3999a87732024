"""The shipped RBAC is enough: the operator runs as its ServiceAccount with only what the kustomize
base (`kubectl apply -k deploy/`; RBAC in deploy/operator/rbac.yaml) grants it."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.kubeapi import CRD_NAME
from siptrunk_operator.localcluster.binaries import REPO_ROOT
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from siptrunk_operator.sandbox import install_crds
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import project_trunks, trunk_manifest, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e
SERVICE_ACCOUNT = "system:serviceaccount:siptrunk-operator:siptrunk-operator"
SA_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:siptrunk-operator", "system:authenticated")


def test_operator_works_with_the_shipped_rbac_only(
    emulator_url: str, control: EmulatorControl, tmp_path: Path, project_id: str
) -> None:
    with LocalControlPlane() as plane:
        install_crds(plane)
        # The whole base, for real (the Deployment gets no pods: this control plane runs no controllers).
        applied = plane.kubectl("apply", "-k", str(REPO_ROOT / "deploy"), check=False)
        assert applied.returncode == 0, applied.stderr

        as_operator = plane.kubeconfig_for(SERVICE_ACCOUNT, SA_GROUPS)
        denied = plane.kubectl(f"--kubeconfig={as_operator}", "get", "secrets", "-A", check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr  # least privilege: no secrets

        key = write_emulator_key(tmp_path, emulator_url, "rbac@e2e.iam.gserviceaccount.com")
        with OperatorProcess(kubeconfig=as_operator, emulator_url=emulator_url, key_file=key,
                             log_path=tmp_path / "operator.log", extra_env=FAST_OPERATOR_ENV) as operator:
            kube = k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=str(plane.kubeconfig)))
            manifest = trunk_manifest("rbac", project_id, ["sbc.rbac.example.com"], "RBAC")
            plane.kubectl("apply", "-n", "default", "-f", "-", input_text=manifest)
            wait_for_condition(kube, "default", "rbac", "Connected", "True")
            plane.kubectl("apply", "-n", "default", "-f", "-", input_text=manifest.replace("RBAC", "RBAC 2"))
            wait_for(lambda: project_trunks(control, project_id)[0].get("displayName") == "RBAC 2",
                     message="the update")
            events = plane.kubectl("get", "events", "-n", "default", "-o", "name").stdout
            assert events.strip(), "the operator could not post Events"
            plane.kubectl("delete", "-n", "default", "siptrunk/rbac", "--timeout=60s", timeout=90)
            assert project_trunks(control, project_id) == []

            plane.kubectl("apply", "-n", "default", "-f", "-", input_text=manifest)
            wait_for_condition(kube, "default", "rbac", "Ready", "True")
            plane.kubectl("delete", "crd", CRD_NAME, "--timeout=60s", timeout=90)
            assert len(project_trunks(control, project_id)) == 1
            assert "forbidden" not in operator.log_text().lower()
