"""`siptrunk-operator dev`: a whole local setup in one command.

Starts kube-apiserver + etcd (built from Go modules on first use), installs the CRD, starts
the API emulator and the operator, applies the sample trunk and prints `kubectl get siptrunks`.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from siptrunk_operator.emulator import EmulatorConfig, EmulatorServer
from siptrunk_operator.localcluster.binaries import REPO_ROOT
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key

CRD_DIR = REPO_ROOT / "crds"
SAMPLE = REPO_ROOT / "deploy" / "samples" / "siptrunk.yaml"
SAMPLE_NAME = "carrier-a"


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def install_crds(plane: LocalControlPlane) -> None:
    """Apply every CRD under crds/ and wait until the API server serves them."""
    plane.kubectl("apply", "-f", str(CRD_DIR))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


def _wait_connected(plane: LocalControlPlane, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = plane.kubectl("get", "siptrunk", SAMPLE_NAME, "-o", "jsonpath={.status.connected}",
                               check=False)
        healthy, _, total = result.stdout.partition("/")
        if total and healthy == total and total != "0":
            return
        time.sleep(1)


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def run_sandbox(*, once: bool, workdir: str | None) -> int:
    directory = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="siptrunk-dev-"))
    directory.mkdir(parents=True, exist_ok=True)
    _say("finding or building kube-apiserver, etcd and kubectl (first run: several minutes)")
    plane = LocalControlPlane(workdir=directory / "cluster")
    emulator = EmulatorServer(EmulatorConfig(connect_after=2.0))
    operator: OperatorProcess | None = None
    try:
        _say("starting etcd and kube-apiserver on 127.0.0.1")
        plane.start()
        install_crds(plane)
        emulator_url = emulator.start_in_thread()
        _say(f"sipTrunks API emulator on {emulator_url}")
        operator = OperatorProcess(
            kubeconfig=plane.kubeconfig, emulator_url=emulator_url,
            key_file=write_emulator_key(directory, emulator_url, "sandbox@sandbox.iam.gserviceaccount.com"),
            log_path=directory / "operator.log", extra_env={"SIPTRUNK_STATUS_TICK_SECONDS": "1",
                                                               "SIPTRUNK_REFRESH_FAST_SECONDS": "2"},
        ).start()
        _say(f"operator started (log: {operator.log_path})")
        plane.kubectl("apply", "-f", str(SAMPLE))
        _say(f"applied {SAMPLE.relative_to(REPO_ROOT)}; waiting for Ready")
        waited = plane.kubectl("wait", "--for=condition=Ready", f"siptrunk/{SAMPLE_NAME}", "--timeout=90s",
                               check=False, timeout=120)
        if waited.returncode != 0:
            _say(f"the trunk did not become Ready: {waited.stderr.strip()}; see {operator.log_path}")
        _wait_connected(plane)
        print(plane.kubectl("get", "siptrunks").stdout, end="", flush=True)
        if not once:
            _say(f"sandbox running. In another shell: export KUBECONFIG={plane.kubeconfig}")
            _say("Ctrl-C stops everything")
            _wait_for_interrupt()
        return 0 if waited.returncode == 0 else 1
    finally:
        if operator is not None:
            operator.stop()
        emulator.stop()
        plane.stop()
        if once and not workdir:
            shutil.rmtree(directory, ignore_errors=True)
