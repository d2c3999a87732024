"""The shipped RBAC is enough: the operator runs as its ServiceAccount with only what the kustomize
base (`kubectl apply -k deploy/`; RBAC in deploy/operator/rbac.yaml) grants it, under the base's
ValidatingAdmissionPolicy (it writes its annotations and status as itself), and is denied the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.kubeapi import CRD_NAME
from siptrunk_operator.localcluster.binaries import REPO_ROOT
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION
from siptrunk_operator.sandbox import install_crds
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import project_trunks, trunk_manifest, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e
SERVICE_ACCOUNT = "system:serviceaccount:siptrunk-operator:siptrunk-operator"
TRUNKS, TENANCIES = "siptrunks.dialogflow.siptrunk.dev", "siptrunktenancies.dialogflow.siptrunk.dev"
DENIED = [
    ("get", "secrets", "-A"), ("list", "secrets", "-A"), ("get", "configmaps", "-A"), ("list", "pods", "-A"),
    ("update", TRUNKS, "-A"), ("create", TRUNKS, "-A"), ("delete", TRUNKS, "-A"),
    ("update", TRUNKS, "-A", "--subresource=status"), ("get", TRUNKS, "-A", "--subresource=status"),
    ("create", TENANCIES), ("patch", TENANCIES), ("delete", TENANCIES),
    ("get", "namespaces"), ("patch", "namespaces"), ("patch", "events", "-A"), ("create", "events.events.k8s.io", "-A"),
    ("get", "leases.coordination.k8s.io", "-n", "default"), ("delete", "customresourcedefinitions"),
]
NEEDED = [
    ("watch", TRUNKS, "-A"), ("patch", TRUNKS, "-A"), ("patch", TRUNKS, "-A", "--subresource=status"),
    ("watch", TENANCIES), ("watch", "namespaces"), ("create", "events", "-A"), ("get", "customresourcedefinitions"),
    ("update", "leases.coordination.k8s.io", "-n", "siptrunk-operator"),
]


def _token_kubeconfig(plane: LocalControlPlane, directory: Path) -> Path:
    """A kubeconfig with a token of the base's ServiceAccount (TokenRequest API, as a pod's projected
    token): the API server authenticates it as system:serviceaccount:siptrunk-operator:siptrunk-operator."""
    token = plane.kubectl("create", "token", "siptrunk-operator", "-n", "siptrunk-operator",
                          "--duration=2h").stdout.strip()
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"] = [{"name": "user", "user": {"token": token}}]
    path = directory / "kubeconfig-service-account"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    whoami = plane.kubectl(f"--kubeconfig={path}", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == SERVICE_ACCOUNT
    return path


def test_operator_works_with_the_shipped_rbac_only(
    emulator_url: str, control: EmulatorControl, tmp_path: Path, project_id: str
) -> None:
    with LocalControlPlane() as plane:
        install_crds(plane)
        # The whole base, for real (the Deployment gets no pods: this control plane runs no controllers).
        applied = plane.kubectl("apply", "-k", str(REPO_ROOT / "deploy"), check=False)
        assert applied.returncode == 0, applied.stderr

        as_operator = _token_kubeconfig(plane, tmp_path)
        for denied_call in DENIED:  # least privilege: what it never needs, it cannot do
            denied = plane.kubectl(f"--kubeconfig={as_operator}", "auth", "can-i", *denied_call, check=False)
            assert denied.stdout.strip() == "no", denied_call
        for needed in NEEDED:
            allowed = plane.kubectl(f"--kubeconfig={as_operator}", "auth", "can-i", *needed, check=False)
            assert allowed.stdout.strip() == "yes", needed
        # The admission policy is in force here: nobody else may forge the operator's annotations.
        forged = trunk_manifest("forged", project_id, ["sbc.rbac.example.com"]).replace(
            "metadata:\n", f"metadata:\n  annotations:\n    {TRUNK_NAME_ANNOTATION}: {project_id}-x\n")
        wait_for(lambda: "ValidatingAdmissionPolicy" in plane.kubectl(
            "create", "--dry-run=server", "-n", "default", "-f", "-", input_text=forged, check=False).stderr,
            message="the admission policy to be enforced")

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
