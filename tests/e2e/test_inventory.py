"""`export`, `import-terraform` and `audit` as a user runs them (subprocesses, and `kubectl siptrunk`),
against an emulator seeded with 1,200 trunks, the Terraform fixture's trunks and an audit mix, on the
real control plane with an operator of this module's own."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.emulator.iam import generate_service_account_key
from siptrunk_operator.emulator.store import StoredTrunk
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.spec import GROUP, PLURAL, VERSION, SipTrunkSpec
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.e2e.helpers import api_writes, condition, project_trunks, trunk_manifest, wait_for, wait_for_condition

pytestmark = pytest.mark.e2e
SCALE = 1200
"""More than one page at the API's maximum page size (1,000)."""
TERRAFORM = Path(__file__).parents[1] / "fixtures" / "terraform"
EXPECTED_TERRAFORM = json.loads((TERRAFORM / "expected-trunks.json").read_text())
PLUGIN = Path(sys.executable).parent / "kubectl-siptrunk"
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_RUN = uuid.uuid4().hex[:6]
SCALE_PROJECT, AUDIT_PROJECT, ORPHAN_PROJECT = f"inv-scale-{_RUN}", f"inv-audit-{_RUN}", f"inv-orphan-{_RUN}"
AUDIT_TRUNKS = {"m": "m", "o": "o", "d1": "d", "d2": "d", "c": "c", "x": "x"}
"""Trunk ID → hostname label: d1 and d2 are alike."""


def _scale_display_name(index: int) -> str | None:
    """Display names as people write them: repeated (collisions), accented, missing, unusable."""
    return [f"Carrier {index % 400:03d} SBC", f"Zürich Süd {index}", None, "日本", f"Carrier {index:04d}"][index % 5]


def _seed() -> list[SipTrunk]:
    trunks = [SipTrunk(name=f"projects/{SCALE_PROJECT}/locations/global/sipTrunks/scale{i:04d}x",
                       expected_hostname=[f"sbc{i}.scale.example.com"], display_name=_scale_display_name(i))
              for i in range(SCALE)]
    trunks += [SipTrunk(name=e["name"], expected_hostname=e["expectedHostname"], display_name=e["displayName"])
               for e in EXPECTED_TERRAFORM]
    trunks += [SipTrunk(name=f"projects/{AUDIT_PROJECT}/locations/global/sipTrunks/{trunk_id}",
                        expected_hostname=[f"{host}.audit.example.com"], display_name="Audit")
               for trunk_id, host in AUDIT_TRUNKS.items()]
    trunks.append(SipTrunk(name=f"projects/{ORPHAN_PROJECT}/locations/global/sipTrunks/lonely",
                           expected_hostname=["lonely.example.com"]))
    return trunks


def _write_emulator_state(path: Path, trunks: list[SipTrunk]) -> None:
    """The emulator's `--state-file` (format 1): trunks with the names they have, seeded without a POST."""
    now = time.time()
    stored = [StoredTrunk(trunk=trunk, seq=seq, create_time=now, script_start=now).to_json()
              for seq, trunk in enumerate(trunks, 1)]
    path.write_text(json.dumps({"version": 1, "nextSeq": len(stored) + 1, "trunks": stored}))


@dataclass
class Inventory:
    plane: LocalControlPlane
    kube: k8s.CustomObjectsApi
    control: EmulatorControl
    url: str
    key: Path
    namespaces: dict[str, str]
    operator: OperatorProcess
    workdir: Path

    def cli(self, *args: str, plugin: bool = False, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The CLI as a subprocess; `plugin`: as `kubectl siptrunk ...`, found on PATH by kubectl."""
        inherited = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
        environment = {**inherited, "SIPTRUNK_API_EMULATOR_URL": self.url, "KUBECONFIG": str(self.plane.kubeconfig),
                       "PATH": f"{PLUGIN.parent}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
        command = ([str(self.plane.binaries.kubectl), "siptrunk"] if plugin
                   else [sys.executable, "-m", "siptrunk_operator.cli"])
        return subprocess.run([*command, *args], env=environment, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def objects(self, namespace: str) -> list[dict[str, Any]]:
        listed = self.kube.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        items: list[dict[str, Any]] = listed["items"]
        return items


@pytest.fixture(scope="module")
def inventory(control_plane: LocalControlPlane, kube: k8s.CustomObjectsApi,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    assert PLUGIN.exists(), f"{PLUGIN} is missing: `pip install -e .` installs the kubectl plugin's entry point"
    directory = tmp_path_factory.mktemp("inventory")
    _write_emulator_state(directory / "emulator-state.json", _seed())
    server = EmulatorServer(EmulatorConfig(connect_after=1.0, state_file=directory / "emulator-state.json"))
    url = server.start_in_thread()
    key = write_emulator_key(directory, url, "inventory@e2e.iam.gserviceaccount.com")
    namespaces = {role: f"inv-{role}-{_RUN}" for role in ("scale", "terraform", "audit")}
    for namespace in namespaces.values():  # before the operator starts: it watches exactly these
        control_plane.kubectl("create", "namespace", namespace)
    operator = OperatorProcess(kubeconfig=control_plane.kubeconfig, emulator_url=url, key_file=key,
                               log_path=directory / "operator.log", extra_env=FAST_OPERATOR_ENV,
                               namespaces=tuple(namespaces.values()))
    with EmulatorControl(url) as control, operator:
        yield Inventory(control_plane, kube, control, url, key, namespaces, operator, directory)
        control_plane.kubectl("delete", "siptrunks", "--all", "-n", namespaces["scale"], "--wait=false",
                              check=False, timeout=180)
        with contextlib.suppress(AssertionError):  # Abandon: the operator only releases the finalizers
            wait_for(lambda: not operator.running or not kube.list_namespaced_custom_object(
                GROUP, VERSION, namespaces["scale"], PLURAL, limit=1)["items"], timeout=120, interval=3)
    server.stop()
    for namespace in namespaces.values():
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _ready(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if (condition(item, "Ready") or {}).get("status") == "True"]


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """A failure: exit 1, nothing on stdout, exactly one `error:` line on stderr, no secret."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "PRIVATE KEY" not in result.stderr and "ya29." not in result.stderr
    return lines[0]


class Laps:
    """Seconds per stage, for the report (never asserted: the machine is shared)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage], self.last = now - self.last, now

    def __str__(self) -> str:
        stages = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in self.seconds.items())
        return f"{stages}; total {self.last - self.started:.1f}s"


def test_export_1200_trunks_and_adopt_them_all_without_a_create(inventory: Inventory) -> None:
    namespace, lap = inventory.namespaces["scale"], Laps()
    exported = inventory.cli("export", "--project", SCALE_PROJECT, "--credentials", str(inventory.key),
                             "--namespace", namespace, "--deletion-policy", "Abandon", plugin=True)
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == ""  # not a terminal: no progress display
    documents = list(yaml.safe_load_all(exported.stdout))
    assert len(documents) == SCALE
    names = {doc["metadata"]["name"] for doc in documents}
    assert len(names) == SCALE and all(RFC1123_LABEL.match(name) for name in names)
    seeded = {t["name"] for t in project_trunks(inventory.control, SCALE_PROJECT)}
    assert {SipTrunkSpec.from_body(doc["spec"]).adopted_name() for doc in documents} == seeded
    listed = inventory.control.requests(path_contains=f"/projects/{SCALE_PROJECT}/")
    assert [entry["method"] for entry in listed] == ["GET", "GET"]  # two pages of 1,000
    manifests = inventory.workdir / "exported.yaml"
    manifests.write_text(exported.stdout)
    lap("export")

    dry_run = inventory.plane.kubectl("apply", "--dry-run=server", "-f", str(manifests), check=False, timeout=300)
    assert dry_run.returncode == 0, dry_run.stderr[-2000:]
    assert dry_run.stdout.count("(server dry run)") == SCALE
    assert inventory.objects(namespace) == []
    lap("dry run")

    applied = inventory.plane.kubectl("apply", "-f", str(manifests), check=False, timeout=300)
    assert applied.returncode == 0, applied.stderr[-2000:]
    lap("apply")
    wait_for(lambda: len(_ready(inventory.objects(namespace))) == SCALE, timeout=240, interval=5,
             message=f"{SCALE} objects Ready")
    lap("then all Ready")

    objects = inventory.objects(namespace)
    assert {item["status"]["name"] for item in objects} == seeded
    assert api_writes(inventory.control, SCALE_PROJECT) == []  # zero POST (create), PATCH or DELETE
    assert len(project_trunks(inventory.control, SCALE_PROJECT)) == SCALE

    audited = inventory.cli("audit", "--project", SCALE_PROJECT, "--credentials", str(inventory.key), "-o", "json")
    assert audited.returncode == 0, audited.stderr
    assert json.loads(audited.stdout)["summary"]["managed"] == SCALE
    lap("audit")
    print(f"\ninventory at scale: {lap}")


def test_terraform_state_becomes_manifests_that_adopt_its_trunks(inventory: Inventory) -> None:
    namespace = inventory.namespaces["terraform"]
    from_state = inventory.cli("import-terraform", str(TERRAFORM / "terraform.tfstate"), "--namespace", namespace)
    assert from_state.returncode == 0 and from_state.stderr == "", from_state.stderr
    from_show = inventory.cli("import-terraform", "-", "--namespace", namespace,
                              stdin=(TERRAFORM / "show.json").read_text())  # `terraform show -json | ...`
    assert (from_show.returncode, from_show.stdout) == (0, from_state.stdout)

    inventory.plane.kubectl("apply", "-f", "-", input_text=from_state.stdout)
    by_trunk = {e["name"]: e for e in EXPECTED_TERRAFORM}
    wait_for(lambda: len(_ready(inventory.objects(namespace))) == len(by_trunk), timeout=90, interval=2,
             message="the Terraform trunks Ready")
    objects = inventory.objects(namespace)
    assert {item["status"]["name"] for item in objects} == set(by_trunk)
    for item in objects:
        expected = by_trunk[item["status"]["name"]]
        assert item["spec"].get("deletionPolicy") == (expected["deletionPolicy"] or "Delete")
    for project in ("tf-telephony-prod", "tf-telephony-edge"):
        assert api_writes(inventory.control, project) == []
        assert len(project_trunks(inventory.control, project)) == sum(
            name.startswith(f"projects/{project}/") for name in by_trunk)
    audited = inventory.cli("audit", "--project", "tf-telephony-edge", "--credentials", str(inventory.key))
    assert audited.returncode == 0, audited.stdout + audited.stderr


def _audit_trunk(trunk_id: str) -> str:
    return f"projects/{AUDIT_PROJECT}/locations/global/sipTrunks/{trunk_id}"


def test_audit_reports_each_class_in_table_and_json(inventory: Inventory) -> None:
    namespace = inventory.namespaces["audit"]

    def apply(name: str, trunk_id: str) -> None:
        manifest = trunk_manifest(name, AUDIT_PROJECT, [f"{AUDIT_TRUNKS[trunk_id]}.audit.example.com"], "Audit",
                                  resourceID=trunk_id)
        inventory.plane.kubectl("apply", "-n", namespace, "-f", "-", input_text=manifest)

    owners = {"managed": "m", "duplicated": "d1", "conflict-a": "c", "missing": "x"}
    for name, trunk_id in owners.items():
        apply(name, trunk_id)
    for name in owners:
        wait_for_condition(inventory.kube, namespace, name, "Ready", "True")
    apply("conflict-b", "c")  # claims the trunk conflict-a already owns
    wait_for_condition(inventory.kube, namespace, "conflict-b", "Ready", "False", reason="Conflict")
    inventory.control.delete_trunk(_audit_trunk("x"))  # deleted outside Kubernetes

    expected = [
        ("managed", [_audit_trunk("m")], [f"{namespace}/managed"]),
        ("orphaned", [_audit_trunk("o")], []),
        ("missing", [_audit_trunk("x")], [f"{namespace}/missing"]),
        ("duplicated", [_audit_trunk("d1"), _audit_trunk("d2")], [f"{namespace}/duplicated"]),
        ("conflicting", [_audit_trunk("c")], [f"{namespace}/conflict-a", f"{namespace}/conflict-b"]),
    ]
    as_json = inventory.cli("audit", "--project", AUDIT_PROJECT, "--credentials", str(inventory.key), "-o", "json")
    assert as_json.returncode == 4 + 8 + 16 + 32, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [(f["class"], f["trunks"], f["objects"]) for f in report["findings"]] == expected
    assert report["summary"] == dict.fromkeys(("managed", "orphaned", "missing", "duplicated", "conflicting"), 1)

    as_table = inventory.cli("audit", "--project", AUDIT_PROJECT, "--credentials", str(inventory.key), plugin=True)
    assert as_table.returncode == 60, as_table.stderr
    rows = [line.split()[:3] for line in as_table.stdout.splitlines()[1:len(expected) + 1]]
    assert rows == [[kind, ",".join(t.rsplit("/", 1)[1] for t in trunks), ",".join(objects) or "-"]
                    for kind, trunks, objects in expected]
    assert as_table.stdout.splitlines()[-1].endswith(
        "managed 1, orphaned 1, missing 1, duplicated 1, conflicting 1 (exit code 60)")

    lonely = inventory.cli("audit", "--project", ORPHAN_PROJECT, "--credentials", str(inventory.key))
    assert lonely.returncode == 4, lonely.stderr
    assert lonely.stdout.splitlines()[1].split()[:2] == ["orphaned", "lonely"]


def test_bad_credentials_a_missing_permission_and_a_wrong_location_give_one_line(
    inventory: Inventory, tmp_path: Path
) -> None:
    project = SCALE_PROJECT
    wrong = _one_error_line(inventory.cli("export", "--project", project, "--location", "europe-wst3",
                                          "--credentials", str(inventory.key)))
    assert wrong.startswith("error: unknown location 'europe-wst3': Dialogflow serves global,")

    garbage = tmp_path / "garbage.json"
    garbage.write_text("not a key")
    line = _one_error_line(inventory.cli("audit", "--project", project, env={
        "GOOGLE_APPLICATION_CREDENTIALS": str(garbage)}))
    assert line.startswith(f"error: bad credentials (GOOGLE_APPLICATION_CREDENTIALS={garbage}): cannot load")

    with EmulatorServer(EmulatorConfig(mode="iam")) as strict, EmulatorControl(strict.url) as strict_control:
        def key_file(email: str, permissions: list[str] | None) -> Path:
            key, public_pem = generate_service_account_key(email, f"{strict.url}/token")
            if permissions is not None:
                strict_control.add_identity(email, public_pem, ["*"], permissions)
            path = tmp_path / f"{email.split('@')[0]}.json"
            path.write_text(json.dumps(key))
            return path

        on_strict = {"SIPTRUNK_API_EMULATOR_URL": strict.url}
        unknown = key_file("stranger@e2e.iam.gserviceaccount.com", None)
        line = _one_error_line(inventory.cli("export", "--project", project, "--credentials", str(unknown),
                                             env=on_strict))
        assert line.startswith(f"error: bad credentials (--credentials {unknown}): token refresh failed: "
                               "invalid_grant"), line

        reader = key_file("reader@e2e.iam.gserviceaccount.com", ["dialogflow.siptrunks.get"])
        for command in ("export", "audit"):
            line = _one_error_line(inventory.cli(command, "--project", project, "--credentials", str(reader),
                                                 env=on_strict))
            assert line == (f"error: permission denied: the credentials (--credentials {reader}) lack "
                            f"dialogflow.siptrunks.list on projects/{project}/locations/global (grant "
                            "roles/dialogflow.admin or dialogflow.siptrunks.list)")

    line = _one_error_line(inventory.cli("audit", "--project", project, "--credentials", str(inventory.key),
                                         "--kubeconfig", str(tmp_path / "missing-kubeconfig")))
    assert line.startswith("error: cannot load the kubeconfig")
