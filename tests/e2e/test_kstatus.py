"""kstatus (`sigs.k8s.io/cli-utils`, as Flux computes it) of real SipTrunks in each phase of their life.

The kstatus library is built from Go modules by `tools/kstatus/build.sh` (as the control plane is),
and run on the objects the API server returns: creating → InProgress, ready → Current, stalled →
Failed, deleting → Terminating. Every version of the object is recorded through a watch, so the
status is checked on the first version that shows each change, not only on the settled object.

`SIPTRUNK_CAPTURE_FIXTURES=DIR` saves each phase's object as `DIR/<phase>.json` (for health checks
tested elsewhere, e.g. `tests/fixtures/objects/`).
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import watch

from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.emulator.faults import FaultAction
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.kstatus import KstatusResult, KstatusUnavailableError, compute_status, find_kstatus
from siptrunk_operator.localcluster.operator_process import OperatorProcess
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION
from siptrunk_operator.settings import FINALIZER
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.helpers import condition, dump, get_trunk, project_trunks, trunk_manifest, wait_for, wait_for_condition

# The first test may build kstatus (a minute or more on a cold Go cache on two cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

HOSTS = ["sbc1.kstatus.example.com", "sbc2.kstatus.example.com"]
CREATE_HOLD_SECONDS = 15.0
FAILED_DELETES = 4
CAPTURE_ENV = "SIPTRUNK_CAPTURE_FIXTURES"


@pytest.fixture(scope="session")
def kstatus_binary() -> Path:
    """Never skipped: without Go and without a cached binary this fails, saying so."""
    try:
        return find_kstatus()
    except KstatusUnavailableError as err:
        pytest.fail(f"kstatus is needed and could not be built or found: {err}", pytrace=False)


class Recorder:
    """Every version of one object, in the order the API server's watch delivers them."""

    def __init__(self, kube: k8s.CustomObjectsApi, namespace: str, name: str) -> None:
        self._kube, self._namespace, self._name = kube, namespace, name
        self._versions: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.errors: list[str] = []  # watch failures (each watch is reopened), for debugging
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def versions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._versions)

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            stream = watch.Watch()
            kwargs: dict[str, Any] = {"field_selector": f"metadata.name={self._name}", "timeout_seconds": 3,
                                      "_request_timeout": 10}
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in stream.stream(self._kube.list_namespaced_custom_object, GROUP, VERSION,
                                           self._namespace, PLURAL, **kwargs):
                    obj = event["object"]
                    if event["type"] == "ERROR":  # 410 Gone: start again from a fresh list
                        resource_version = None
                        break
                    resource_version = obj["metadata"]["resourceVersion"]
                    with self._lock:
                        if resource_version not in self._seen:
                            self._seen.add(resource_version)
                            self._versions.append(copy.deepcopy(obj))
                    if self._stop.is_set():
                        break
            except Exception as err:  # a dropped watch is reopened; the error is kept for the report
                self.errors.append(repr(err))
                time.sleep(0.2)
            finally:
                stream.stop()


def _summary(obj: dict[str, Any]) -> dict[str, Any]:
    """What kstatus reads, for assertion messages: generation, deletion, status conditions."""
    meta, status = obj["metadata"], obj.get("status") or {}
    return {
        "resourceVersion": meta.get("resourceVersion"), "generation": meta.get("generation"),
        "deletionTimestamp": meta.get("deletionTimestamp"), "finalizers": meta.get("finalizers"),
        "annotations": sorted((meta.get("annotations") or {}).keys()),
        "observedGeneration": status.get("observedGeneration"), "status.name": status.get("name"),
        "conditions": [(c["type"], c["status"], c.get("reason"), c.get("observedGeneration"))
                       for c in status.get("conditions", [])],
    }


def _timeline(binary: Path, versions: list[dict[str, Any]]) -> str:
    lines = [f"{compute_status(v, binary).status:<12} {json.dumps(_summary(v))}" for v in versions]
    return "every recorded version (kstatus, object):\n" + "\n".join(lines)


def _assert_kstatus(binary: Path, obj: dict[str, Any], expected: str, what: str,
                    versions: list[dict[str, Any]] | None = None) -> KstatusResult:
    result = compute_status(obj, binary)
    assert result.status == expected, (
        f"{what}: kstatus computed {result.status} ({result.message!r}), expected {expected}.\n"
        f"object status: {dump(obj.get('status'))}\nobject metadata: {dump(_summary(obj))}\n"
        + (_timeline(binary, versions) if versions else ""))
    return result


def _first(versions: list[dict[str, Any]], predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    found = next((v for v in versions if predicate(v)), None)
    assert found is not None, f"no recorded version shows {what}; recorded: {[_summary(v) for v in versions]}"
    return found


def _condition_is(kind: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        cond = condition(obj, kind)
        return bool(cond and cond["status"] == status)

    return check


def _capture(phase: str, obj: dict[str, Any]) -> None:
    """With SIPTRUNK_CAPTURE_FIXTURES=DIR, save the object as DIR/<phase>.json (managedFields dropped)."""
    directory = os.environ.get(CAPTURE_ENV)
    if not directory:
        return
    saved = copy.deepcopy(obj)
    saved["metadata"].pop("managedFields", None)
    path = Path(directory) / f"{phase}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def faults(emulator_url: str, control: EmulatorControl) -> Iterator[Callable[..., str]]:
    """`add(...)` as EmulatorControl.add_fault; the test's own faults are removed afterwards."""
    added: list[str] = []

    def add(action: FaultAction, **spec: Any) -> str:
        fault_id = control.add_fault(action, **spec)
        added.append(fault_id)
        return fault_id

    yield add
    for fault_id in added:
        httpx.delete(f"{emulator_url}/_emulator/faults/{fault_id}", timeout=10)  # 404 once consumed: fine


def _apply(plane: LocalControlPlane, namespace: str, manifest: str) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)


def _posts(control: EmulatorControl, project: str) -> list[dict[str, Any]]:
    return control.requests(method="POST", path_contains=f"/projects/{project}/")


def _has_trunk(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("name")
                or (obj["metadata"].get("annotations") or {}).get(TRUNK_NAME_ANNOTATION))


def test_creating_is_in_progress(
    kstatus_binary: Path, operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str, faults: Callable[..., str],
) -> None:
    """While the API holds the create, no trunk exists yet: a GitOps tool must not be told Current."""
    faults("latency", method="POST", path=f"/projects/{project_id}/", latency=CREATE_HOLD_SECONDS)
    with Recorder(kube, namespace, "creating") as recorder:
        _apply(control_plane, namespace, trunk_manifest("creating", project_id, HOSTS, "kstatus creating"))
        wait_for(lambda: [p for p in _posts(control, project_id) if p["status"] is None], timeout=60,
                 interval=0.1, message="the create to reach the API (and be held there)")
        in_flight = get_trunk(kube, namespace, "creating")
        still_held = [p for p in _posts(control, project_id) if p["status"] is None]
        assert still_held, "the create finished before the snapshot was read: raise CREATE_HOLD_SECONDS"
        assert not project_trunks(control, project_id)
        _capture("creating", in_flight)
        wait_for(lambda: _has_trunk(get_trunk(kube, namespace, "creating")), timeout=CREATE_HOLD_SECONDS + 60,
                 message="the created trunk to be recorded")
        time.sleep(1)  # let the watch deliver what came before
        versions = recorder.versions()

    # The object as it was while the create request was in flight.
    _assert_kstatus(kstatus_binary, in_flight, "InProgress", "while the create is held by the API", versions)
    # And every status the operator wrote before a trunk existed, from the first one on.
    for version in versions:
        if version.get("status") and not _has_trunk(version):
            _assert_kstatus(kstatus_binary, version, "InProgress",
                            f"version {version['metadata']['resourceVersion']}, a status written before the trunk "
                            "existed", versions)


def test_ready_is_current(
    kstatus_binary: Path, operator: OperatorProcess, control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi,
    namespace: str, project_id: str,
) -> None:
    with Recorder(kube, namespace, "ready") as recorder:
        _apply(control_plane, namespace, trunk_manifest("ready", project_id, HOSTS, "kstatus ready"))
        wait_for_condition(kube, namespace, "ready", "Ready", "True", reason="UpToDate")
        settled = wait_for_condition(kube, namespace, "ready", "Connected", "True")
        time.sleep(1)
        versions = recorder.versions()

    first_ready = _first(versions, _condition_is("Ready", "True"), "Ready=True")
    _assert_kstatus(kstatus_binary, first_ready, "Current", "the first version with Ready=True", versions)
    _assert_kstatus(kstatus_binary, settled, "Current", "the settled object (Ready, Connected)", versions)
    _capture("ready", settled)


def test_stalled_is_failed(
    kstatus_binary: Path, operator: OperatorProcess, control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi,
    namespace: str, project_id: str, faults: Callable[..., str],
) -> None:
    faults("error", method="POST", path=f"/projects/{project_id}/", status=400,
           message="SipTrunk.expected_hostname is not allowlisted for this project.")
    with Recorder(kube, namespace, "stalled") as recorder:
        _apply(control_plane, namespace, trunk_manifest("stalled", project_id, HOSTS, "kstatus stalled"))
        wait_for_condition(kube, namespace, "stalled", "Stalled", "True", reason="InvalidSpec")
        time.sleep(3)  # the operator has nothing left to do: it waits for a person (or the slow retry)
        later = get_trunk(kube, namespace, "stalled")
        versions = recorder.versions()

    first_stalled = _first(versions, _condition_is("Stalled", "True"), "Stalled=True")
    _assert_kstatus(kstatus_binary, first_stalled, "Failed", "the first version with Stalled=True", versions)
    result = _assert_kstatus(kstatus_binary, later, "Failed", "the stalled object 3 s later", versions)
    assert "not allowlisted" in result.message
    _capture("stalled", later)


def test_deleting_is_terminating(
    kstatus_binary: Path, operator: OperatorProcess, control_plane: LocalControlPlane, control: EmulatorControl,
    kube: k8s.CustomObjectsApi, namespace: str, project_id: str, faults: Callable[..., str], emulator_url: str,
) -> None:
    _apply(control_plane, namespace, trunk_manifest("deleting", project_id, HOSTS, "kstatus deleting"))
    wait_for_condition(kube, namespace, "deleting", "Ready", "True", reason="UpToDate")
    wait_for_condition(kube, namespace, "deleting", "Connected", "True")
    delete_fault = faults("error", method="DELETE", path=f"/projects/{project_id}/", status=503)

    def deletes() -> list[dict[str, Any]]:
        return control.requests(method="DELETE", path_contains=f"/projects/{project_id}/")

    with Recorder(kube, namespace, "deleting") as recorder:
        control_plane.kubectl("delete", "-n", namespace, "siptrunk/deleting", "--wait=false")
        # The client's own retries of a 503, then the operator's retry: the failure has been through a pass.
        wait_for(lambda: len([d for d in deletes() if d["status"] == 503]) >= FAILED_DELETES, timeout=180,
                 message=f"{FAILED_DELETES} DELETE calls answered 503")
        failing = get_trunk(kube, namespace, "deleting")
        time.sleep(1)
        versions = recorder.versions()

    assert FINALIZER in failing["metadata"]["finalizers"], dump(failing["metadata"])
    assert len(project_trunks(control, project_id)) == 1
    first_deleting = _first(versions, lambda v: bool(v["metadata"].get("deletionTimestamp")), "a deletionTimestamp")
    _assert_kstatus(kstatus_binary, first_deleting, "Terminating", "the first version being deleted", versions)
    _assert_kstatus(kstatus_binary, failing, "Terminating", "the object while its DELETE keeps failing", versions)
    _capture("deleting", failing)

    # The API recovers: the trunk is deleted and the finalizer released.
    httpx.delete(f"{emulator_url}/_emulator/faults/{delete_fault}", timeout=10).raise_for_status()
    wait_for(lambda: not project_trunks(control, project_id), timeout=120, message="the trunk to be deleted")

    def gone() -> bool:
        try:
            get_trunk(kube, namespace, "deleting")
        except k8s.ApiException as err:
            return bool(err.status == 404)
        return False

    wait_for(gone, timeout=60, message="the object to disappear")
