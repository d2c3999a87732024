"""The kustomize base (`kubectl apply -k deploy/`): what it renders, and a real API server accepting it.

The rendered Deployment is checked for every hardening setting the issue asks for (pod and container
securityContext, probes, replicas, requests and limits); the namespace enforces the restricted Pod
Security Standard, so the API server itself warns about a pod template that breaks it. The RBAC the
base renders is exactly deploy/operator/rbac.yaml and tenant-roles.yaml, which tests/e2e/test_rbac.py
runs the operator with (it applies this same base); the admission policy names the ServiceAccount the
Deployment runs as (tests/e2e/test_admission_policy.py tries it for real).
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from siptrunk_operator.localcluster.binaries import REPO_ROOT, find_binaries
from siptrunk_operator.localcluster.controlplane import LocalControlPlane

pytestmark = pytest.mark.e2e
DEPLOY = REPO_ROOT / "deploy"
OVERLAY = DEPLOY / "overlays" / "gke-workload-identity"
NAMESPACE = "siptrunk-operator"
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})
CLUSTER_KINDS = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                           "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})
CRD_FILES = ("siptrunks.dialogflow.siptrunk.dev.yaml", "siptrunktenancies.dialogflow.siptrunk.dev.yaml")
SERVICE_ACCOUNT = "system:serviceaccount:siptrunk-operator:siptrunk-operator"


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` (kubectl's built-in kustomize, as `kubectl apply -k` uses it)."""
    rendered = subprocess.run([str(find_binaries().kubectl), "kustomize", str(directory)],
                              capture_output=True, text=True, check=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def only(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def hardening_problems(deployment: dict[str, Any]) -> list[str]:
    """Every way the Deployment misses the issue's hardening list (empty: it meets all of it)."""
    problems: list[str] = []
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    if spec.get("replicas") != 2:
        problems.append(f"replicas is {spec.get('replicas')}, not 2")
    if (spec.get("strategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        problems.append("strategy is not RollingUpdate")
    pod_security = pod.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        problems.append("pod securityContext.runAsNonRoot is not true")
    if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("pod securityContext.seccompProfile is not RuntimeDefault")
    containers = pod.get("initContainers", []) + pod["containers"]
    for container in containers:
        name, security = container["name"], container.get("securityContext") or {}
        expected = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
        problems += [f"{name}: securityContext.{key} is {security.get(key)!r}, not {value!r}"
                     for key, value in expected.items() if security.get(key) is not value]
        if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: securityContext.capabilities.drop is not [ALL]")
        if (security.get("capabilities") or {}).get("add"):
            problems.append(f"{name}: securityContext.capabilities.add is set")
        if (security.get("seccompProfile") or {}).get("type", "RuntimeDefault") != "RuntimeDefault":
            problems.append(f"{name}: securityContext.seccompProfile overrides the pod's RuntimeDefault")
        if security.get("privileged"):
            problems.append(f"{name}: privileged")
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(section) or {})
            if missing:
                problems.append(f"{name}: resources.{section} lacks {', '.join(sorted(missing))}")
    for container in pod["containers"]:
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            http = (container.get(probe) or {}).get("httpGet") or {}
            if http.get("path") != path:
                problems.append(f"{container['name']}: {probe} is not an HTTP GET of {path}")
            elif http.get("port") not in ports and http.get("port") not in ports.values():
                problems.append(f"{container['name']}: {probe} port {http.get('port')!r} is not a container port")
    return problems


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(DEPLOY)


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalControlPlane]:
    """A control plane of its own: the base is installed on an empty cluster, as a platform team would."""
    with LocalControlPlane() as fresh:
        yield fresh


def test_the_base_installs_everything(base: list[dict[str, Any]]) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in base)
    assert kinds == sorted([
        ("Namespace", NAMESPACE),
        ("CustomResourceDefinition", "siptrunks.dialogflow.siptrunk.dev"),
        ("CustomResourceDefinition", "siptrunktenancies.dialogflow.siptrunk.dev"),
        ("ServiceAccount", "siptrunk-operator"),
        ("ClusterRole", "siptrunk-operator"), ("ClusterRoleBinding", "siptrunk-operator"),
        ("ClusterRole", "siptrunk-view"), ("ClusterRole", "siptrunk-edit"),
        ("ClusterRole", "siptrunk-operator-tenant-secrets"),
        ("Role", "siptrunk-operator-leader-election"), ("RoleBinding", "siptrunk-operator-leader-election"),
        ("ValidatingAdmissionPolicy", "siptrunk-operator-owned-fields"),
        ("ValidatingAdmissionPolicyBinding", "siptrunk-operator-owned-fields"),
        ("Deployment", "siptrunk-operator"),
        ("PodDisruptionBudget", "siptrunk-operator"),
        ("Service", "siptrunk-operator-metrics"),
    ])
    for doc in base:
        if doc["kind"] in CLUSTER_KINDS:
            assert "namespace" not in doc["metadata"], doc["metadata"]
        else:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]
    # Each CRD is the one in crds/ (a single copy; the base only adds the part-of label).
    for filename in CRD_FILES:
        shipped = yaml.safe_load((REPO_ROOT / "crds" / filename).read_text())
        crd = copy.deepcopy(only(base, "CustomResourceDefinition", shipped["metadata"]["name"]))
        del crd["metadata"]["labels"]["app.kubernetes.io/part-of"]
        if not crd["metadata"]["labels"]:
            del crd["metadata"]["labels"]
        assert crd == shipped, filename


def test_the_deployment_is_hardened(base: list[dict[str, Any]]) -> None:
    deployment = only(base, "Deployment")
    assert hardening_problems(deployment) == []
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "siptrunk-operator"
    (container,) = pod["containers"]
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["args"]
    assert container["livenessProbe"]["httpGet"]["port"] == "health"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 8080, "health": 8081}
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_hardening_check_catches_each_gap(base: list[dict[str, Any]]) -> None:
    deployment = only(base, "Deployment")
    gaps = {
        "replicas": lambda d: d["spec"].update(replicas=1),
        "runAsNonRoot": lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
        "seccompProfile": lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"),
        "readOnlyRootFilesystem": lambda d: _container(d)["securityContext"].update(readOnlyRootFilesystem=False),
        "allowPrivilegeEscalation": lambda d: _container(d)["securityContext"].pop("allowPrivilegeEscalation"),
        "capabilities": lambda d: _container(d)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        "limits": lambda d: _container(d)["resources"]["limits"].pop("cpu"),
        "readinessProbe": lambda d: _container(d).pop("readinessProbe"),
        "livenessProbe": lambda d: _container(d)["livenessProbe"]["httpGet"].update(port="nope"),
    }
    for what, damage in gaps.items():
        damaged = copy.deepcopy(deployment)
        damage(damaged)
        assert any(what in problem for problem in hardening_problems(damaged)), what


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_rbac_is_the_reviewed_file_and_leases_stay_in_the_namespace(base: list[dict[str, Any]]) -> None:
    rendered = sorted((copy.deepcopy(d) for d in base if d["kind"] in RBAC_KINDS),
                      key=lambda d: (d["kind"], d["metadata"]["name"]))
    files = [DEPLOY / "operator" / "rbac.yaml", DEPLOY / "operator" / "tenant-roles.yaml"]
    shipped = sorted((d for f in files for d in yaml.safe_load_all(f.read_text()) if d),
                     key=lambda d: (d["kind"], d["metadata"]["name"]))
    for doc in rendered:
        doc["metadata"]["labels"].pop("app.kubernetes.io/part-of")
    assert rendered == shipped  # test_rbac.py runs the operator with these objects, applied from this base

    role = only(base, "Role", "siptrunk-operator-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                              "verbs": ["get", "create", "update"]}]
    binding = only(base, "RoleBinding", "siptrunk-operator-leader-election")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "siptrunk-operator-leader-election"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "siptrunk-operator", "namespace": NAMESPACE}]
    cluster_rules = only(base, "ClusterRole", "siptrunk-operator")["rules"]
    granted = {(group, resource): set(rule["verbs"]) for rule in cluster_rules
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert ("coordination.k8s.io", "leases") not in granted  # no Lease outside the operator's namespace
    assert not any(resource in ("secrets", "configmaps", "pods", "*") for _, resource in granted)
    assert not any("*" in rule["verbs"] for rule in cluster_rules)
    assert granted == {  # what kubeapi.py and kopf call, and nothing else: every write is a patch
        ("dialogflow.siptrunk.dev", "siptrunks"): {"get", "list", "watch", "patch"},
        ("dialogflow.siptrunk.dev", "siptrunks/status"): {"patch"},
        ("dialogflow.siptrunk.dev", "siptrunktenancies"): {"get", "list", "watch"},
        ("", "namespaces"): {"list", "watch"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
        ("", "events"): {"create"},
    }
    # Secrets: `get` only, in a ClusterRole the base never binds (an admin binds it per tenant namespace).
    secrets = only(base, "ClusterRole", "siptrunk-operator-tenant-secrets")
    assert secrets["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert not [b for b in base if b["kind"] in ("ClusterRoleBinding", "RoleBinding")
                and b["roleRef"]["name"] == "siptrunk-operator-tenant-secrets"]


def test_tenants_standard_roles_get_siptrunks_by_aggregation(base: list[dict[str, Any]]) -> None:
    view, edit = only(base, "ClusterRole", "siptrunk-view"), only(base, "ClusterRole", "siptrunk-edit")
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k for k, v in view["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == \
        {aggregate + "view", aggregate + "edit", aggregate + "admin"}
    assert {k for k, v in edit["metadata"]["labels"].items() if k.startswith(aggregate) and v == "true"} == \
        {aggregate + "edit", aggregate + "admin"}
    assert view["rules"] == [{"apiGroups": ["dialogflow.siptrunk.dev"], "resources": ["siptrunks", "siptrunks/status"],
                              "verbs": ["get", "list", "watch"]}]
    (rule,) = edit["rules"]
    assert rule["resources"] == ["siptrunks"]  # never status: only the operator writes it
    assert set(rule["verbs"]) == {"create", "update", "patch", "delete", "deletecollection"}


def test_the_admission_policy_exempts_exactly_the_deployments_service_account(base: list[dict[str, Any]]) -> None:
    policy = only(base, "ValidatingAdmissionPolicy")
    pod = only(base, "Deployment")["spec"]["template"]["spec"]
    account = only(base, "ServiceAccount")["metadata"]
    assert f"system:serviceaccount:{account['namespace']}:{pod['serviceAccountName']}" == SERVICE_ACCOUNT
    assert policy["spec"]["matchConditions"] == [
        {"name": "not-the-operator", "expression": f"request.userInfo.username != '{SERVICE_ACCOUNT}'"}]
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rules,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules["resources"] == ["siptrunks", "siptrunks/status"]
    assert rules["operations"] == ["CREATE", "UPDATE"]
    binding = only(base, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


def test_metrics_service_and_disruption_budget_select_the_pods(base: list[dict[str, Any]]) -> None:
    labels = only(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = only(base, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = only(base, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1  # of 2: one replica may be drained at a time
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_workload_identity_overlay_only_annotates_the_service_account(base: list[dict[str, Any]]) -> None:
    overlay = kustomize(OVERLAY)
    account = only(overlay, "ServiceAccount")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    del account["metadata"]["annotations"]
    assert sorted(map(yaml.safe_dump, overlay)) == sorted(map(yaml.safe_dump, base))


def test_server_side_dry_run_then_apply(plane: LocalControlPlane, base: list[dict[str, Any]]) -> None:
    # On an empty cluster a dry run cannot create objects in a namespace it only pretends to create:
    # kubectl's limitation for any kustomization holding its own Namespace. Everything else passes.
    empty = plane.kubectl("apply", "-k", str(DEPLOY), "--dry-run=server", check=False)
    errors = [line for line in empty.stderr.splitlines() if line.strip()]
    assert errors and all(f'namespaces "{NAMESPACE}" not found' in line for line in errors), empty.stderr

    plane.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(only(base, "Namespace")))
    for directory in (DEPLOY, OVERLAY):
        dry_run = plane.kubectl("apply", "-k", str(directory), "--dry-run=server", check=False)
        assert dry_run.returncode == 0, dry_run.stderr
        # PodSecurity (restricted, enforced on the namespace) would warn about the pod template here.
        assert dry_run.stderr.strip() == "", dry_run.stderr
        assert "(server dry run)" in dry_run.stdout

    # The namespace really enforces the restricted profile: a template without the hardening is refused.
    weak = copy.deepcopy(only(base, "Deployment"))
    del weak["spec"]["template"]["spec"]["securityContext"]
    del _container(weak)["securityContext"]
    refused = plane.kubectl("apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump(weak), check=False)
    assert "violate PodSecurity" in refused.stderr, refused.stderr

    plane.kubectl("apply", "-k", str(DEPLOY))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/siptrunks.dialogflow.siptrunk.dev")
    unchanged = plane.kubectl("diff", "-k", str(DEPLOY), check=False)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr  # re-applying changes nothing

    samples = plane.kubectl("apply", "--dry-run=server", "-n", "default", "-f", str(DEPLOY / "samples"), check=False)
    assert samples.returncode == 0, samples.stderr
    assert samples.stdout.count("siptrunk.dialogflow.siptrunk.dev/") == len(list((DEPLOY / "samples").glob("*.yaml")))
