"""Two replicas on a real API server: one Lease, one writer, a failover that loses nothing, and a
leader that stops once its Lease is taken."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.localcluster.controlplane import LocalControlPlane, free_port
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import (
    get_trunk,
    project_trunks,
    trunk_manifest,
    wait_for,
    wait_for_condition,
)

pytestmark = pytest.mark.e2e
LEASE_SECONDS, RENEW_SECONDS, RETRY_SECONDS = 6, 4, 1


@pytest.fixture
def leases(control_plane: LocalControlPlane) -> Iterator[tuple[k8s.CoordinationV1Api, str]]:
    namespace = f"leases-{uuid.uuid4().hex[:6]}"
    control_plane.kubectl("create", "namespace", namespace)
    api = k8s.CoordinationV1Api(k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig)))
    yield api, namespace
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _replica(control_plane: LocalControlPlane, emulator_url: str, directory: Path, email: str, lease_namespace: str,
             **env: str) -> OperatorProcess:
    """An operator replica with an identity of its own, so the emulator's log tells the writers apart."""
    home = directory / email.split("@")[0]
    home.mkdir()
    return OperatorProcess(
        kubeconfig=control_plane.kubeconfig, emulator_url=emulator_url,
        key_file=write_emulator_key(home, emulator_url, email), log_path=home / "operator.log",
        namespaces=("iso-*",),
        extra_env={**FAST_OPERATOR_ENV, "SIPTRUNK_LEADER_ELECTION": "true", "SIPTRUNK_LEASE_NAMESPACE": lease_namespace,
                   "SIPTRUNK_LEASE_NAME": "siptrunk-operator", "SIPTRUNK_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
                   "SIPTRUNK_LEASE_RENEW_DEADLINE_SECONDS": str(RENEW_SECONDS),
                   "SIPTRUNK_LEASE_RETRY_PERIOD_SECONDS": str(RETRY_SECONDS), **env},
    )


def _holder(api: k8s.CoordinationV1Api, namespace: str) -> str | None:
    try:
        lease = api.read_namespaced_lease("siptrunk-operator", namespace)
    except k8s.ApiException:
        return None
    return str(lease.spec.holder_identity) if lease.spec and lease.spec.holder_identity else None


def _callers(control: EmulatorControl, project_id: str) -> set[str]:
    return {str(r["identity"]) for r in control.requests(path_contains=f"/projects/{project_id}/")}


def _ready(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def test_one_leader_writes_and_a_standby_takes_over_without_losing_an_edit(
    control_plane: LocalControlPlane, emulator_url: str, control: EmulatorControl, kube: k8s.CustomObjectsApi,
    isolated_namespace: str, project_id: str, leases: tuple[k8s.CoordinationV1Api, str], tmp_path: Path,
) -> None:
    api, lease_ns = leases
    namespace = isolated_namespace
    port_a, port_b = free_port(), free_port()
    first = _replica(control_plane, emulator_url, tmp_path, "replica-a@e2e.iam.gserviceaccount.com", lease_ns,
                     SIPTRUNK_OPS_ADDRESS=f"127.0.0.1:{port_a}")
    second = _replica(control_plane, emulator_url, tmp_path, "replica-b@e2e.iam.gserviceaccount.com", lease_ns,
                      SIPTRUNK_OPS_ADDRESS=f"127.0.0.1:{port_b}")
    first.start()
    try:
        leader = wait_for(lambda: _holder(api, lease_ns), timeout=30, message="the first replica to take the Lease")
        second.start()
        wait_for(lambda: _ready(f"http://127.0.0.1:{port_b}/readyz") == (200, '{"role": "standby"}'), timeout=30,
                 message="the second replica to be a ready standby")
        assert _ready(f"http://127.0.0.1:{port_a}/readyz") == (200, '{"role": "leader"}')
        for name in ("one", "two"):
            control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                                  input_text=trunk_manifest(name, project_id, [f"{name}.ha.example.com"], name))
        for name in ("one", "two"):
            wait_for_condition(kube, namespace, name, "Ready", "True")
        time.sleep(2 * RETRY_SECONDS)
        assert _callers(control, project_id) == {"replica-a@e2e.iam.gserviceaccount.com"}  # the standby made no call

        first.stop(hard=True)
        killed = time.monotonic()
        control_plane.kubectl("patch", "-n", namespace, "siptrunk/one", "--type=merge",
                              "-p", '{"spec": {"displayName": "edited during the failover"}}')
        wait_for(lambda: _holder(api, lease_ns) not in (None, leader), timeout=LEASE_SECONDS + 10,
                 message="the standby to take over")
        assert time.monotonic() - killed <= LEASE_SECONDS + 5
        control_plane.kubectl("apply", "-n", namespace, "-f", "-",
                              input_text=trunk_manifest("three", project_id, ["three.ha.example.com"], "three"))
        edited = wait_for(lambda: (lambda o: o if o.get("status", {}).get("observedGeneration") == 2 and
                                   (o.get("status", {}).get("conditions") or [{}])[0].get("status") == "True"
                                   else None)(get_trunk(kube, namespace, "one")), timeout=30,
                          message="the edit made during the failover to be applied")
        assert edited["metadata"]["generation"] == 2
        wait_for_condition(kube, namespace, "three", "Ready", "True")
        trunks = project_trunks(control, project_id)
        assert sorted(t["displayName"] for t in trunks) == ["edited during the failover", "three", "two"]
        posts = control.requests(method="POST", path_contains=f"/projects/{project_id}/")
        assert len(posts) == 3  # no trunk created twice across the failover
        assert _ready(f"http://127.0.0.1:{port_b}/readyz") == (200, '{"role": "leader"}')
    finally:
        first.stop(hard=True)
        second.stop()


def test_a_leader_whose_lease_is_taken_stops_writing_within_the_renew_deadline(
    control_plane: LocalControlPlane, emulator_url: str, control: EmulatorControl, kube: k8s.CustomObjectsApi,
    isolated_namespace: str, project_id: str, leases: tuple[k8s.CoordinationV1Api, str], tmp_path: Path,
) -> None:
    api, lease_ns = leases
    replica = _replica(control_plane, emulator_url, tmp_path, "replica-c@e2e.iam.gserviceaccount.com", lease_ns)
    replica.start()
    try:
        wait_for(lambda: _holder(api, lease_ns), timeout=30, message="the replica to take the Lease")
        control_plane.kubectl("apply", "-n", isolated_namespace, "-f", "-",
                              input_text=trunk_manifest("held", project_id, ["held.ha.example.com"], "held"))
        wait_for_condition(kube, isolated_namespace, "held", "Ready", "True")
        lease = api.read_namespaced_lease("siptrunk-operator", lease_ns)
        lease.spec.holder_identity = "someone-else"
        lease.spec.renew_time = dt.datetime.now(dt.UTC)
        api.replace_namespaced_lease("siptrunk-operator", lease_ns, lease)
        taken = time.monotonic()
        wait_for(lambda: replica.returncode is not None, timeout=RENEW_SECONDS + 3 * RETRY_SECONDS + 5,
                 message="the replica to exit once its Lease was taken")
        assert time.monotonic() - taken <= RENEW_SECONDS + 2 * RETRY_SECONDS + 2
        assert replica.returncode != 0
        assert "lost the Lease" in replica.log_text()
        stopped = control.requests(path_contains=f"/projects/{project_id}/")
        control_plane.kubectl("patch", "-n", isolated_namespace, "siptrunk/held", "--type=merge",
                              "-p", '{"spec": {"displayName": "nobody applies this"}}')
        time.sleep(3)
        assert control.requests(path_contains=f"/projects/{project_id}/") == stopped  # nothing written after
    finally:
        replica.stop(hard=True)


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_move_with_creates_and_injected_errors(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, isolated_namespace: str, project_id: str,
) -> None:
    port, live = free_port(), free_port()
    with operator_factory(namespaces=("iso-*",), SIPTRUNK_OPS_ADDRESS=f"127.0.0.1:{port}",
                          SIPTRUNK_LIVENESS_URL=f"http://127.0.0.1:{live}/healthz"):
        wait_for(lambda: _ready(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=30, message="readiness")

        def scrape() -> str:
            return _ready(f"http://127.0.0.1:{port}/metrics")[1]

        before = scrape()
        control.add_fault(method="POST", path=f"/projects/{project_id}/", status=503, times=1)
        control_plane.kubectl("apply", "-n", isolated_namespace, "-f", "-",
                              input_text=trunk_manifest("metered", project_id, ["m.example.com"], "metered"))
        wait_for_condition(kube, isolated_namespace, "metered", "Ready", "True")
        wait_for(lambda: _metric(scrape(), "siptrunk_connections", state="CONNECTED") > 0, timeout=30,
                 message="connections to show in the metrics")
        after = scrape()
        assert _metric(after, "siptrunk_api_requests_total", method="POST", code="200") \
            > _metric(before, "siptrunk_api_requests_total", method="POST", code="200")
        assert _metric(after, "siptrunk_api_requests_total", method="POST", code="503") \
            > _metric(before, "siptrunk_api_requests_total", method="POST", code="503")
        assert _metric(after, "siptrunk_api_request_duration_seconds_count", method="POST") >= 2
        assert _metric(after, "siptrunk_reconciles_total", result="success", reason="UpToDate") >= 1
        assert _metric(after, "siptrunk_trunks", condition="Ready", status="True") >= 1
        assert _metric(after, "siptrunk_list_refresh_age_seconds", project=project_id, location="global") >= 0
        assert f'siptrunk_list_refresh_age_seconds{{location="global",project="{project_id}"}}' in after
        assert _metric(after, "siptrunk_leader") == 1
        assert "# TYPE siptrunk_rate_limiter_waits_total counter" in after  # moves: tests/unit/test_ops.py
        assert "metered" not in after and "sipTrunks/" not in after  # no trunk or object names as labels
        status, body = _ready(f"http://127.0.0.1:{live}/healthz")
        assert status == 200 and '"engine"' in body

