"""Tenancy on the real control plane, against the emulator in IAM mode: an admin's SipTrunkTenancy
maps namespaces to projects; each tenant brings its own key in a Secret of its own namespace."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.emulator.iam import generate_service_account_key
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import condition, get_trunk, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e
OPERATOR_EMAIL = "operator@tenancy.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def iam_emulator() -> Iterator[tuple[str, EmulatorControl]]:
    server = EmulatorServer(EmulatorConfig(mode="iam", connect_after=1.0))
    url = server.start_in_thread()
    yield url, EmulatorControl(url)
    server.stop()


def _key(control: EmulatorControl, url: str, email: str, projects: list[str]) -> dict[str, Any]:
    key, public_pem = generate_service_account_key(email, token_uri=f"{url}/token")
    control.add_identity(email, public_pem, projects)
    return key


def _secret(control_plane: LocalControlPlane, namespace: str, name: str, key: dict[str, Any]) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "data": {"credentials.json": base64.b64encode(json.dumps(key).encode()).decode()},
    }))


def _trunk(name: str, project: str, *, secret: str | None = "team-key", display: str | None = None) -> str:
    spec: dict[str, Any] = {"projectID": project, "expectedHostname": [f"{name}.tenancy.example.com"],
                            "displayName": display or name}
    if secret:
        spec["credentialsSecretRef"] = {"name": secret}
    return yaml.safe_dump({"apiVersion": "dialogflow.siptrunk.dev/v1beta1", "kind": "SipTrunk",
                           "metadata": {"name": name}, "spec": spec})


def _policy(name: str, namespace: str, projects: list[str], *, operator_identity: bool = False) -> str:
    return yaml.safe_dump({"apiVersion": "dialogflow.siptrunk.dev/v1beta1", "kind": "SipTrunkTenancy",
                           "metadata": {"name": name},
                           "spec": {"namespaces": [namespace], "projects": projects,
                                    "allowOperatorIdentity": operator_identity}})


def _calls(control: EmulatorControl, project: str) -> list[dict[str, Any]]:
    return control.requests(path_contains=f"/projects/{project}/")


def test_each_tenant_uses_its_own_key_within_its_policy(
    control_plane: LocalControlPlane, iam_emulator: tuple[str, EmulatorControl], kube: k8s.CustomObjectsApi,
    tmp_path: Path,
) -> None:
    url, control = iam_emulator
    suffix = uuid.uuid4().hex[:6]
    namespace, project_a, project_b = f"tenant-a-{suffix}", f"proj-a-{suffix}", f"proj-b-{suffix}"
    control_plane.kubectl("create", "namespace", namespace)
    key_a = _key(control, url, f"team-a-{suffix}@tenancy.iam.gserviceaccount.com", [project_a])
    _secret(control_plane, namespace, "team-key", key_a)
    policy = f"team-a-{suffix}"
    control_plane.kubectl("apply", "-f", "-", input_text=_policy(policy, namespace, [project_a]))
    operator = OperatorProcess(
        kubeconfig=control_plane.kubeconfig, emulator_url=url,
        key_file=write_emulator_key(tmp_path, url, OPERATOR_EMAIL), log_path=tmp_path / "operator.log",
        extra_env=dict(FAST_OPERATOR_ENV), namespaces=("tenant-*",),
    )
    try:
        with operator:
            # Tenant A's object with A's key manages its trunk in project A, as A.
            control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=_trunk("mine", project_a))
            wait_for_condition(kube, namespace, "mine", "Ready", "True")
            assert {c["identity"] for c in _calls(control, project_a)} == {key_a["client_email"]}

            # Pointed at project B, which no policy grants: Forbidden, and not one call on B.
            control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=_trunk("theirs", project_b))
            obj = wait_for_condition(kube, namespace, "theirs", "Ready", "False", reason="Forbidden")
            assert project_b in condition(obj, "Ready")["message"]
            assert condition(obj, "Stalled")["status"] == "True"
            assert _calls(control, project_b) == []

            # The operator's own identity is not granted here: an object without a key is refused too.
            control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                                  input_text=_trunk("keyless", project_a, secret=None))
            obj = wait_for_condition(kube, namespace, "keyless", "Ready", "False", reason="Forbidden")
            assert "credentialsSecretRef" in condition(obj, "Ready")["message"]

            # The policy now allows B, but A's key has no access there: the API's 403, named.
            control_plane.kubectl("apply", "-f", "-", input_text=_policy(policy, namespace, [project_a, project_b]))
            obj = wait_for_condition(kube, namespace, "theirs", "Ready", "False", reason="PermissionDenied")
            assert "dialogflow.siptrunks" in condition(obj, "Ready")["message"]

            # A rotated key is used on the next reconcile, without a restart.
            key_a2 = _key(control, url, f"team-a2-{suffix}@tenancy.iam.gserviceaccount.com", [project_a])
            _secret(control_plane, namespace, "team-key", key_a2)
            control.clear_requests()
            control_plane.kubectl("patch", "-n", namespace, "siptrunk/mine", "--type=merge",
                                  "-p", '{"spec": {"displayName": "rotated"}}')
            wait_for(lambda: get_trunk(kube, namespace, "mine")["status"].get("observedGeneration") == 2
                     and condition(get_trunk(kube, namespace, "mine"), "Ready")["status"] == "True",
                     message="the edit to be applied with the new key")
            writes = [c for c in _calls(control, project_a) if c["method"] == "PATCH"]
            assert writes and {c["identity"] for c in writes} == {key_a2["client_email"]}

            # Once the policy no longer grants its project, an object is not deleted through the API
            # either: its finalizer stays (nothing is lost) until the policy allows it again.
            control_plane.kubectl("apply", "-f", "-", input_text=_policy(policy, namespace, [project_b]))
            wait_for_condition(kube, namespace, "mine", "Ready", "False", reason="Forbidden")
            control.clear_requests()
            control_plane.kubectl("delete", "-n", namespace, "siptrunk/mine", "--wait=false")
            obj = wait_for_condition(kube, namespace, "mine", "Synced", "False", reason="Forbidden")
            assert obj["metadata"]["finalizers"] and obj["metadata"].get("deletionTimestamp")
            assert _calls(control, project_a) == []
            control_plane.kubectl("apply", "-f", "-", input_text=_policy(policy, namespace, [project_a]))
            wait_for(lambda: not [t for t in control.trunks() if t["name"].startswith(f"projects/{project_a}/")],
                     message="the delete to go through once the policy allows it")
    finally:
        control_plane.kubectl("delete", "siptrunktenancy", policy, "--ignore-not-found")
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert "multi-tenant" in operator.log_text()


def test_without_a_policy_the_operator_says_it_is_single_tenant(operator: OperatorProcess) -> None:
    assert "single-tenant" in operator.log_text()
