"""Uninstall safety: deleting the SipTrunk CRD abandons every trunk instead of deleting it."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.kubeapi import CRD_NAME
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from siptrunk_operator.sandbox import install_crds
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import api_writes, project_trunks, trunk_manifest, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e


def test_deleting_the_crd_leaves_every_trunk(
    emulator_url: str, control: EmulatorControl, tmp_path: Path, project_id: str
) -> None:
    # A control plane of its own: this test deletes the CRD the other tests need.
    with LocalControlPlane() as plane:
        install_crds(plane)
        key = write_emulator_key(tmp_path, emulator_url, "uninstall@e2e.iam.gserviceaccount.com")
        with OperatorProcess(kubeconfig=plane.kubeconfig, emulator_url=emulator_url, key_file=key,
                             log_path=tmp_path / "operator.log", extra_env=FAST_OPERATOR_ENV):
            kube = k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=str(plane.kubeconfig)))
            for index in range(2):
                plane.kubectl("apply", "-n", "default", "-f", "-", input_text=trunk_manifest(
                    f"trunk-{index}", project_id, [f"sbc{index}.uninstall.example.com"]))
            for index in range(2):
                wait_for_condition(kube, "default", f"trunk-{index}", "Ready", "True")
            names = sorted(t["name"] for t in project_trunks(control, project_id))
            assert len(names) == 2

            plane.kubectl("delete", "crd", CRD_NAME, "--timeout=60s", timeout=90)
            wait_for(lambda: plane.kubectl("get", "crd", CRD_NAME, check=False).returncode != 0,
                     message="the CRD to be gone")
            assert sorted(t["name"] for t in project_trunks(control, project_id)) == names
            assert "DELETE" not in [w["method"] for w in api_writes(control, project_id)]
            core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(plane.kubeconfig)))
            abandoned = wait_for(lambda: [e.message for e in core.list_namespaced_event("default").items
                                          if e.reason == "Abandoned"], message="Abandoned Events")
            assert any(names[0] in message and "uninstall" in message for message in abandoned)
