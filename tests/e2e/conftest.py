"""End-to-end fixtures: a real kube-apiserver + etcd, the API emulator and the operator process."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from siptrunk_operator.emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from siptrunk_operator.sandbox import install_crds
from siptrunk_operator.spec import GROUP, PLURAL, VERSION
from tests.e2e.leaks import Scan, keys_in_files, keys_in_secrets, operator_logs

pytestmark = pytest.mark.e2e

FAST_OPERATOR_ENV = {
    "SIPTRUNK_REFRESH_FAST_SECONDS": "1",
    "SIPTRUNK_REFRESH_SLOW_SECONDS": "3",
    "SIPTRUNK_ERROR_RETRY_SECONDS": "2",
    "SIPTRUNK_MIN_RESYNC_SECONDS": "2",
    "SIPTRUNK_PERMISSION_RETRY_SECONDS": "3",
    "SIPTRUNK_REQUESTS_PER_MINUTE": "6000",
    # An interrupted create is judged 12 s after its marker (the defaults, 60 s + 30 s, are Google's).
    "SIPTRUNK_CREATE_DEADLINE_SECONDS": "10",
    "SIPTRUNK_CREATE_SETTLE_MARGIN_SECONDS": "2",
}


@pytest.fixture(scope="session")
def control_plane() -> Iterator[LocalControlPlane]:
    with LocalControlPlane() as plane:
        install_crds(plane)
        yield plane


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    server = EmulatorServer(EmulatorConfig(connect_after=1.0))
    url = server.start_in_thread()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def control(emulator_url: str) -> EmulatorControl:
    return EmulatorControl(emulator_url)


@pytest.fixture(scope="session")
def operator_factory(
    control_plane: LocalControlPlane, emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., OperatorProcess]:
    """Builds operator processes wired to the local control plane and the emulator (not started)."""
    directory = tmp_path_factory.mktemp("operator")
    key_file = write_emulator_key(directory, emulator_url, "operator@e2e.iam.gserviceaccount.com")

    def build(namespaces: tuple[str, ...] = ("e2e-*",), **extra_env: str) -> OperatorProcess:
        return OperatorProcess(
            kubeconfig=control_plane.kubeconfig, emulator_url=emulator_url, key_file=key_file,
            log_path=directory / f"operator-{uuid.uuid4().hex[:6]}.log",
            extra_env={**FAST_OPERATOR_ENV, **extra_env}, namespaces=namespaces,
        )

    return build


@pytest.fixture(scope="session")
def operator(
    operator_factory: Callable[..., OperatorProcess], control_plane: LocalControlPlane,
    kube: k8s.CustomObjectsApi,
) -> Iterator[OperatorProcess]:
    """The shared operator process (watching `e2e-*`); its log is printed when a test fails.

    Yielded only once it has handled a canary object: kopf's namespace-pattern mode lists the
    namespaces and then starts watching them, and can miss one created in between.
    """
    with operator_factory() as process:
        canary = f"e2e-canary-{uuid.uuid4().hex[:6]}"
        control_plane.kubectl("create", "namespace", canary)
        control_plane.kubectl("apply", "-n", canary, "-f", "-", input_text=yaml.safe_dump({
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk", "metadata": {"name": "canary"},
            "spec": {"projectID": "canary-project", "managementPolicy": "ObserveOnly", "resourceID": "canary"},
        }))
        deadline = time.monotonic() + 90
        while not kube.get_namespaced_custom_object(GROUP, VERSION, canary, PLURAL, "canary").get("status"):
            assert time.monotonic() < deadline, "the operator never handled the canary:\n" + process.log_text()
            time.sleep(0.5)
        control_plane.kubectl("delete", "namespace", canary, "--wait=false")
        yield process


@pytest.fixture(scope="session")
def kube(control_plane: LocalControlPlane) -> k8s.CustomObjectsApi:
    api_client = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    return k8s.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def core(control_plane: LocalControlPlane) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig)))


def _namespace(plane: LocalControlPlane, prefix: str) -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", name)
    yield name
    plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(control_plane: LocalControlPlane) -> Iterator[str]:
    """A namespace the shared `operator` watches (it watches `e2e-*`)."""
    yield from _namespace(control_plane, "e2e")


@pytest.fixture
def isolated_namespace(control_plane: LocalControlPlane) -> Iterator[str]:
    """A namespace the shared operator ignores, for tests that run operators of their own."""
    yield from _namespace(control_plane, "iso")


@pytest.fixture
def project_id() -> str:
    """A project of its own per test, so emulator assertions never see another test's trunks."""
    return f"proj-{uuid.uuid4().hex[:10]}"


LEAK_SCANS: list[str] = []
"""The leak scan's summary line, printed at the end of the session's report."""


@pytest.fixture(scope="session", autouse=True)
def leak_scan(control_plane: LocalControlPlane, control: EmulatorControl, kube: k8s.CustomObjectsApi,
              core: k8s.CoreV1Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After every end-to-end test (this session fixture ends last, once the shared operator has
    stopped, while the control plane still runs): no operator log line, Event or SipTrunk status may
    hold a token the emulator issued, a JWT, a private key or the key ID of a key the tests wrote.
    A leak fails the session (an error at teardown) and says what leaked where, never the secret."""
    yield
    scan = Scan()
    root = tmp_path_factory.getbasetemp()
    for token in control.issued_tokens():
        scan.secrets[token] = "a token the emulator issued"
    for key, origin in [*keys_in_files(root), *keys_in_secrets(core.list_secret_for_all_namespaces().to_dict()
                                                                 ["items"] or [])]:
        scan.add_key(key, origin)
    logs = list(operator_logs(root))
    for where, text in logs:
        scan.scan("operator logs", where, text)
    for event in core.list_event_for_all_namespaces().items:
        scan.scan("Events", f"Event {event.metadata.namespace}/{event.metadata.name}",
                  f"{event.reason} {event.message}")
    try:
        objects = kube.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
    except k8s.ApiException as err:  # no CRD left: no status to scan
        objects = [] if err.status == 404 else [{"metadata": {"namespace": "?", "name": "?"}, "status": err.body}]
    for obj in objects:
        meta = obj["metadata"]
        scan.scan("SipTrunk statuses", f"SipTrunk {meta['namespace']}/{meta['name']} status",
                  json.dumps(obj.get("status") or {}))
    LEAK_SCANS.append(scan.summary())
    if scan.leaks:
        pytest.fail("credentials leaked into logs, Events or status:\n" + scan.report(), pytrace=False)
    if logs and not any(what.startswith("the key ID") for what in scan.secrets.values()):
        pytest.fail(f"the leak scan found operator logs but no key to look for: {scan.summary()}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in LEAK_SCANS:
        terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the operator's log tail to failing end-to-end tests."""
    outcome = yield
    report = outcome.get_result()
    process = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(process, OperatorProcess):
        tail = [line[:300] for line in process.log_text().splitlines()[-40:]]
        report.sections.append(("operator log (tail)", "\n".join(tail)))
