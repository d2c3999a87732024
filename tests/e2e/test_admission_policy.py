"""Identities no tenant can forge.

With the kustomize base installed (its ValidatingAdmissionPolicy `siptrunk-operator-owned-fields`),
the API server itself refuses anyone but the operator's ServiceAccount setting, changing or removing
the annotations `dialogflow.siptrunk.dev/trunk-name` and `dialogflow.siptrunk.dev/create-pending`, or
writing status. The tenant is a plain user bound to the standard `edit` ClusterRole in its namespace,
which the base's aggregated `siptrunk-edit` role extends to SipTrunks.

Without the policy (defence in depth, on the shared control plane, which has none), the operator
still refuses a recorded name outside `projects/{projectID}/locations/{location}`, or one whose path
segments would not stay in place: InvalidSpec, no API call on it, and the object can be deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.binaries import REPO_ROOT
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION, TRUNK_NAME_ANNOTATION
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.helpers import (
    condition,
    create_in_api,
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
)

pytestmark = pytest.mark.e2e
OPERATOR = "system:serviceaccount:siptrunk-operator:siptrunk-operator"
OPERATOR_GROUPS = ("system:serviceaccounts", "system:serviceaccounts:siptrunk-operator", "system:authenticated")
TENANT, VIEWER, STATUS_WRITER = "alice@team-a.example.com", "bob@team-a.example.com", "carol@team-a.example.com"
TEAM = "team-a"
POLICY = "ValidatingAdmissionPolicy 'siptrunk-operator-owned-fields'"
OWNED = (TRUNK_NAME_ANNOTATION, CREATE_PENDING_ANNOTATION)
FORGED = {TRUNK_NAME_ANNOTATION: "projects/other-team/locations/global/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q",
          CREATE_PENDING_ANNOTATION: "2026-12-01T00:00:00Z 0123abcd"}


def aggregate_cluster_roles(plane: LocalControlPlane) -> None:
    """What kube-controller-manager's clusterrole-aggregation controller does (this control plane
    runs no controllers): fill each ClusterRole that has an aggregationRule with the rules of the
    ClusterRoles its selectors match, as `view`, `edit` and `admin` are filled on a real cluster."""
    roles = json.loads(plane.kubectl("get", "clusterroles", "-o", "json").stdout)["items"]
    for role in roles:
        aggregation = role.get("aggregationRule") or {}
        selectors = [s.get("matchLabels") or {} for s in aggregation.get("clusterRoleSelectors", [])]
        if not selectors:
            continue
        rules = [rule for other in roles if other["metadata"]["name"] != role["metadata"]["name"]
                 and any(s.items() <= (other["metadata"].get("labels") or {}).items() for s in selectors)
                 for rule in other.get("rules") or []]
        plane.kubectl("patch", "clusterrole", role["metadata"]["name"], "--type=merge",
                      "-p", json.dumps({"rules": rules}))


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalControlPlane]:
    """A control plane of its own with the whole base applied for real (the shared one has no policy,
    which the defence-in-depth tests below need), a tenant namespace and its users."""
    with LocalControlPlane() as plane:
        plane.kubectl("apply", "-k", str(REPO_ROOT / "deploy"))
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/siptrunks.dialogflow.siptrunk.dev")
        aggregate_cluster_roles(plane)
        plane.kubectl("create", "namespace", TEAM)
        plane.kubectl("create", "namespace", "team-b")
        plane.kubectl("create", "rolebinding", "alice-edit", "-n", TEAM, "--clusterrole=edit", f"--user={TENANT}")
        plane.kubectl("create", "rolebinding", "bob-view", "-n", TEAM, "--clusterrole=view", f"--user={VIEWER}")
        # carol may write status as far as RBAC goes: only the policy stands in her way
        plane.kubectl("create", "role", "status-writer", "-n", TEAM, "--verb=get,patch,update",
                      "--resource=siptrunks.dialogflow.siptrunk.dev/status")
        plane.kubectl("create", "rolebinding", "carol-status", "-n", TEAM, "--role=status-writer",
                      f"--user={STATUS_WRITER}")
        # The policy is enforced once the API server has loaded it (asynchronously, within seconds).
        wait_for(lambda: _refused(_create(plane, "probe", annotations=FORGED, dry_run=True)), timeout=60,
                 message="the admission policy to be enforced")
        yield plane


def _manifest(name: str, display_name: str = "A", annotations: dict[str, str] | None = None) -> str:
    body = yaml.safe_load(trunk_manifest(name, "team-a-project", ["sbc.team-a.example.com"], display_name))
    if annotations:
        body["metadata"]["annotations"] = annotations
    return yaml.safe_dump(body)


def _create(plane: LocalControlPlane, name: str, *, annotations: dict[str, str] | None = None,
            user: str = TENANT, dry_run: bool = False) -> Any:
    args = ["--as", user, "create", "-n", TEAM, "-f", "-", *(["--dry-run=server"] if dry_run else [])]
    return plane.kubectl(*args, input_text=_manifest(name, annotations=annotations), check=False)


def _refused(result: Any, *annotations: str) -> bool:
    text = result.stderr
    return result.returncode != 0 and POLICY in text and all(a in text for a in annotations)


def _as_tenant(plane: LocalControlPlane, *args: str, user: str = TENANT) -> Any:
    return plane.kubectl("--as", user, *args, check=False)


def _operator_api(plane: LocalControlPlane) -> k8s.CustomObjectsApi:
    """The operator's ServiceAccount, authenticated as itself (not impersonated): what it runs as."""
    config = plane.kubeconfig_for(OPERATOR, OPERATOR_GROUPS)
    return k8s.CustomObjectsApi(k8s_config.new_client_from_config(config_file=str(config)))


def _annotations(plane: LocalControlPlane, name: str) -> dict[str, str]:
    body = json.loads(plane.kubectl("get", "-n", TEAM, f"siptrunk/{name}", "-o", "json").stdout)
    return dict(body["metadata"].get("annotations") or {})


def test_the_aggregated_roles_give_tenants_siptrunks_but_not_status(guarded: LocalControlPlane) -> None:
    def can(user: str, verb: str, resource: str, namespace: str = TEAM) -> bool:
        resource, _, subresource = resource.partition("/")
        answer = guarded.kubectl("auth", "can-i", verb, resource, "-n", namespace, "--as", user,
                                 *([f"--subresource={subresource}"] if subresource else []), check=False)
        return answer.stdout.strip() == "yes"

    for verb in ("create", "get", "list", "watch", "update", "patch", "delete"):
        assert can(TENANT, verb, "siptrunks.dialogflow.siptrunk.dev"), verb
    assert not can(TENANT, "patch", "siptrunks.dialogflow.siptrunk.dev", namespace="team-b")
    assert not can(TENANT, "patch", "siptrunks.dialogflow.siptrunk.dev/status")
    assert can(VIEWER, "list", "siptrunks.dialogflow.siptrunk.dev")
    assert can(VIEWER, "get", "siptrunks.dialogflow.siptrunk.dev/status")
    assert not can(VIEWER, "create", "siptrunks.dialogflow.siptrunk.dev")
    assert not can(OPERATOR, "get", "secrets")  # the tenant-secrets role is bound per namespace, by an admin


@pytest.mark.parametrize("annotation", OWNED)
def test_a_tenant_cannot_create_an_object_with_the_operators_annotations(
    guarded: LocalControlPlane, annotation: str
) -> None:
    refused = _create(guarded, "forged", annotations={annotation: FORGED[annotation]})
    assert _refused(refused, annotation, "may only be set, changed or removed by the siptrunk-operator"), refused.stderr
    assert guarded.kubectl("get", "-n", TEAM, "siptrunk/forged", check=False).returncode != 0


def test_a_tenant_cannot_set_change_or_remove_them_but_can_edit_the_spec(guarded: LocalControlPlane) -> None:
    name = f"edited-{int(time.time() * 1000) % 100000}"
    assert _create(guarded, name).returncode == 0
    ref = ("-n", TEAM, f"siptrunk/{name}")
    for annotation in OWNED:  # set, on update
        refused = _as_tenant(guarded, "annotate", *ref, f"{annotation}={FORGED[annotation]}")
        assert _refused(refused, annotation), refused.stderr

    # The operator's ServiceAccount sets them (as the operator does when it creates the trunk).
    operator = _operator_api(guarded)
    recorded = {TRUNK_NAME_ANNOTATION: "projects/team-a-project/locations/global/sipTrunks/abc",
                CREATE_PENDING_ANNOTATION: "2026-12-02T10:00:00Z 89abcdef"}
    operator.patch_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, name,
                                            {"metadata": {"annotations": recorded}})
    assert {k: _annotations(guarded, name).get(k) for k in OWNED} == recorded

    for annotation in OWNED:  # change, remove, on update
        changed = _as_tenant(guarded, "annotate", *ref, "--overwrite", f"{annotation}={FORGED[annotation]}")
        assert _refused(changed, annotation), changed.stderr
        removed = _as_tenant(guarded, "annotate", *ref, f"{annotation}-")
        assert _refused(removed, annotation), removed.stderr
    # A replace with the manifest alone would drop them: refused too.
    replaced = guarded.kubectl("--as", TENANT, "replace", "-n", TEAM, "-f", "-", input_text=_manifest(name, "B"),
                               check=False)
    assert _refused(replaced, TRUNK_NAME_ANNOTATION, CREATE_PENDING_ANNOTATION), replaced.stderr
    assert {k: _annotations(guarded, name).get(k) for k in OWNED} == recorded

    # The spec is the tenant's: a patch, and an apply (which keeps annotations it did not set).
    patched = _as_tenant(guarded, "patch", *ref, "--type=merge", "-p", '{"spec": {"displayName": "Patched"}}')
    assert patched.returncode == 0, patched.stderr
    applied = guarded.kubectl("--as", TENANT, "apply", "-n", TEAM, "-f", "-", input_text=_manifest(name, "Applied"),
                              check=False)
    assert applied.returncode == 0, applied.stderr
    other = _as_tenant(guarded, "annotate", *ref, "team-a.example.com/owner=alice")
    assert other.returncode == 0, other.stderr
    body = json.loads(guarded.kubectl("get", *ref, "-o", "json").stdout)
    assert body["spec"]["displayName"] == "Applied"
    assert {k: body["metadata"]["annotations"].get(k) for k in OWNED} == recorded

    # ... and the operator may change and remove them (recording a re-created trunk, clearing a marker).
    operator.patch_namespaced_custom_object(GROUP, VERSION, TEAM, PLURAL, name, {"metadata": {"annotations": {
        TRUNK_NAME_ANNOTATION: "projects/team-a-project/locations/global/sipTrunks/def",
        CREATE_PENDING_ANNOTATION: None}}})
    assert _annotations(guarded, name).get(TRUNK_NAME_ANNOTATION, "").endswith("/def")
    assert CREATE_PENDING_ANNOTATION not in _annotations(guarded, name)
    assert _as_tenant(guarded, "delete", *ref).returncode == 0


def test_only_the_operator_writes_status(guarded: LocalControlPlane) -> None:
    name = f"status-{int(time.time() * 1000) % 100000}"
    assert _create(guarded, name).returncode == 0
    patch = ("patch", "-n", TEAM, f"siptrunk/{name}", "--subresource=status", "--type=merge",
             "-p", json.dumps({"status": {"name": FORGED[TRUNK_NAME_ANNOTATION]}}))
    # RBAC lets carol write status, and the admin kubeconfig (system:masters) too: the policy refuses both.
    for refused in (_as_tenant(guarded, *patch, user=STATUS_WRITER), guarded.kubectl(*patch, check=False)):
        assert _refused(refused, "status is written by the siptrunk-operator only"), refused.stderr
    no_rights = _as_tenant(guarded, *patch)
    assert no_rights.returncode != 0 and "forbidden" in no_rights.stderr.lower()  # edit has no status rights

    status = {"name": "projects/team-a-project/locations/global/sipTrunks/abc", "observedGeneration": 1}
    written = _operator_api(guarded).patch_namespaced_custom_object_status(GROUP, VERSION, TEAM, PLURAL, name,
                                                                           {"status": status})
    assert written["status"] == status


# -- defence in depth: no policy installed (the shared control plane) ----------------------------------------


def _last_seq(control: EmulatorControl) -> int:
    entries = control.requests(kind=None)
    return int(entries[-1]["seq"]) if entries else 0


def _annotate(kube: k8s.CustomObjectsApi, namespace: str, name: str, value: str) -> None:
    kube.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                        {"metadata": {"annotations": {TRUNK_NAME_ANNOTATION: value}}})


def _no_crash(operator: OperatorProcess, uid: str) -> None:
    """The name was refused by the plan, not by an exception escaping a pass (a crash-and-retry)."""
    crashed = [line[:300] for line in operator.log_text().splitlines() if f"reconcile of {uid} failed" in line]
    assert crashed == [], crashed


def _wait_gone(kube: k8s.CustomObjectsApi, namespace: str, name: str) -> None:
    def gone() -> bool:
        try:
            get_trunk(kube, namespace, name)
        except k8s.ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, timeout=60, message=f"{name} to be deleted (its finalizer released)")


@pytest.mark.parametrize("established", [False, True], ids=["set-on-create", "rewritten-after-adoption"])
def test_without_the_policy_a_hand_set_trunk_name_in_another_project_is_refused(
    operator: OperatorProcess, control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi,
    control: EmulatorControl, emulator_url: str, namespace: str, project_id: str, established: bool,
) -> None:
    victim_project = f"victim-{project_id}"
    victim = create_in_api(emulator_url, victim_project, ["sbc.victim.example.com"], "Victim")
    manifest = trunk_manifest("attacker", project_id, ["sbc.attacker.example.com"], "Attacker")
    if established:  # an object the operator already manages, whose annotation is then rewritten
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)
        wait_for_condition(kube, namespace, "attacker", "Ready", "True")
        since = _last_seq(control)
        _annotate(kube, namespace, "attacker", victim["name"])
    else:
        since = _last_seq(control)
        body = yaml.safe_load(manifest)
        body["metadata"]["annotations"] = {TRUNK_NAME_ANNOTATION: victim["name"]}
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(body))
    obj = wait_for_condition(kube, namespace, "attacker", "Ready", "False", reason="InvalidSpec")
    ready = condition(obj, "Ready")
    assert ready is not None and victim["name"] in ready["message"], ready
    assert "not a trunk under" in ready["message"]

    control_plane.kubectl("delete", "-n", namespace, "siptrunk/attacker", "--wait=false")
    _wait_gone(kube, namespace, "attacker")
    _no_crash(operator, obj["metadata"]["uid"])
    calls = [e for e in control.requests(kind=None, after_seq=since) if f"/projects/{victim_project}/" in e["path"]]
    assert calls == [], calls  # not a GET, PATCH, DELETE, nor even a listing of the victim's project
    assert [t["name"] for t in project_trunks(control, victim_project)] == [victim["name"]]
    assert project_trunks(control, victim_project)[0]["displayName"] == "Victim"


@pytest.mark.parametrize("suffix", ["..", "{id}\n", "{id}/.."], ids=["dot-dot", "trailing-newline", "slash-dot-dot"])
def test_a_recorded_name_whose_segments_would_escape_is_invalid_spec_and_deletable(
    operator: OperatorProcess, control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi,
    control: EmulatorControl, namespace: str, project_id: str, suffix: str,
) -> None:
    manifest = trunk_manifest("escape", project_id, ["sbc.escape.example.com"], "Escape")
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)
    obj = wait_for_condition(kube, namespace, "escape", "Ready", "True")
    trunk_id = obj["status"]["name"].rsplit("/", 1)[1]
    since = _last_seq(control)
    bad = f"projects/{project_id}/locations/global/sipTrunks/" + suffix.format(id=trunk_id)
    _annotate(kube, namespace, "escape", bad)
    wait_for_condition(kube, namespace, "escape", "Ready", "False", reason="InvalidSpec")
    assert "finalizers" in get_trunk(kube, namespace, "escape")["metadata"]

    control_plane.kubectl("delete", "-n", namespace, "siptrunk/escape", "--wait=false")
    _wait_gone(kube, namespace, "escape")  # the finalizer was released
    _no_crash(operator, obj["metadata"]["uid"])
    trunk_calls = [e for e in control.requests(after_seq=since)
                   if f"/projects/{project_id}/" in e["path"] and not e["path"].endswith("/sipTrunks")]
    assert trunk_calls == [], trunk_calls  # no GET, PATCH or DELETE of any trunk (listings aside)
    assert len(project_trunks(control, project_id)) == 1  # the trunk it had is left in the API (abandoned)
