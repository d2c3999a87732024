"""Run etcd + kube-apiserver on loopback with generated certificates (what envtest does).

The admin kubeconfig uses a client certificate in `system:masters`. Everything lives in
one working directory, removed on `stop()` unless `keep_dir` is set.
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

import yaml

from siptrunk_operator.localcluster.binaries import ControlPlaneBinaries, find_binaries
from siptrunk_operator.localcluster.certs import TinyCA, signing_key_pair

START_TIMEOUT_SECONDS = 90.0


class ControlPlaneError(RuntimeError):
    """A control-plane component failed to start; the message names it and its log file."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class LocalControlPlane:
    """etcd + kube-apiserver on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        binaries: ControlPlaneBinaries | None = None,
        workdir: Path | None = None,
        *,
        keep_dir: bool = False,
    ) -> None:
        self.binaries = binaries or find_binaries()
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="siptrunk-controlplane-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.keep_dir = keep_dir
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server_url = ""
        self._processes: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
        self._client_ca: TinyCA | None = None
        self._serving_ca_pem = b""
        self._apiserver_args: list[str] = []
        self._etcd_args: list[str] = []
        self._etcd_url = ""
        self._admin_context: ssl.SSLContext | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalControlPlane:
        try:
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for _, process, log in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            log.close()
        self._processes.clear()
        if self._own_dir and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- components ------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._processes.append((name, process, log))
        return process

    def _wait(self, name: str, process: subprocess.Popen[bytes], probe: urllib.request.Request,
              context: ssl.SSLContext | None = None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {process.returncode}; see {self.workdir / (name + '.log')}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{name} not healthy after {START_TIMEOUT_SECONDS:.0f}s; see {self.workdir / (name + '.log')}"
        )

    def _start_etcd(self) -> str:
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        self._etcd_url = client_url
        self._etcd_args = [
            str(self.binaries.etcd),
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
        self._spawn_etcd()
        return client_url

    def _spawn_etcd(self) -> None:
        process = self._spawn("etcd", self._etcd_args)
        self._wait("etcd", process, urllib.request.Request(f"{self._etcd_url}/health"))

    def _start_apiserver(self, etcd_url: str) -> None:
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        serving_ca, client_ca = TinyCA("siptrunk-local-serving-ca"), TinyCA("siptrunk-local-client-ca")
        serving_ca_path, _ = serving_ca.pair.write(certs, "serving-ca")
        client_ca_path, _ = client_ca.pair.write(certs, "client-ca")
        serving_cert, serving_key = serving_ca.issue(
            "localhost", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True
        ).write(certs, "apiserver")
        sa_public, sa_private = signing_key_pair().write(certs, "sa-signer")
        admin = client_ca.issue("admin", organizations=("system:masters",))
        self._client_ca, self._serving_ca_pem = client_ca, serving_ca.pair.cert_pem

        port = free_port()
        self.server_url = f"https://127.0.0.1:{port}"
        self._apiserver_args = [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            f"--cert-dir={certs}",
            f"--tls-cert-file={serving_cert}",
            f"--tls-private-key-file={serving_key}",
            f"--client-ca-file={client_ca_path}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server_url}/",
            f"--service-account-key-file={sa_public}",
            f"--service-account-signing-key-file={sa_private}",
            "--v=0",
        ]
        self._write_kubeconfig(self.kubeconfig, admin.cert_pem, admin.key_pem)
        self._admin_context = ssl.create_default_context(cafile=str(serving_ca_path))
        self._admin_context.load_cert_chain(*admin.write(certs, "admin"))
        self._spawn_apiserver()
        self._wait_for_default_namespace(self._admin_context)

    def _spawn_apiserver(self) -> None:
        process = self._spawn("kube-apiserver", self._apiserver_args)
        self._wait("kube-apiserver", process, urllib.request.Request(f"{self.server_url}/readyz"),
                   self._admin_context)

    def restart_apiserver(self, *, down_seconds: float = 0.0, hard: bool = False) -> None:
        """Stop kube-apiserver (SIGTERM, or SIGKILL when `hard`) and start it again on the same port
        with the same certificates and etcd: clients reconnect and watches resume, as after a
        control-plane upgrade or crash."""
        self._stop_component("kube-apiserver", hard=hard)
        time.sleep(down_seconds)
        self._spawn_apiserver()

    def restart_etcd(self, *, down_seconds: float = 0.0, hard: bool = False) -> None:
        """Stop etcd (SIGTERM, or SIGKILL when `hard`) and start it again with the same data dir and
        ports; kube-apiserver stays up and reconnects, failing requests meanwhile."""
        self._stop_component("etcd", hard=hard)
        time.sleep(down_seconds)
        self._spawn_etcd()

    def _stop_component(self, component: str, *, hard: bool) -> None:
        for index, (name, process, log) in enumerate(self._processes):
            if name != component:
                continue
            if hard:
                process.kill()
            else:
                process.terminate()
            process.wait(timeout=30)
            log.close()
            del self._processes[index]
            return

    def _wait_for_default_namespace(self, context: ssl.SSLContext) -> None:
        probe = urllib.request.Request(f"{self.server_url}/api/v1/namespaces/default")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(probe, timeout=2, context=context):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise ControlPlaneError("namespace 'default' was not created by kube-apiserver")

    def kubeconfig_for(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig authenticating as `user` in `groups` (client certificate), e.g. a
        ServiceAccount's `system:serviceaccount:{namespace}:{name}` to check its RBAC."""
        if self._client_ca is None:
            raise ControlPlaneError("the control plane is not started")
        pair = self._client_ca.issue(user, organizations=groups)
        path = self.workdir / f"kubeconfig-{user.replace(':', '-')}"
        self._write_kubeconfig(path, pair.cert_pem, pair.key_pem)
        return path

    def _write_kubeconfig(self, path: Path, cert_pem: bytes, key_pem: bytes) -> None:
        ca_pem = self._serving_ca_pem
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "siptrunk-local", "cluster": {"server": self.server_url,
                                                        "certificate-authority-data": _b64(ca_pem)}}
            ],
            "users": [
                {"name": "user", "user": {"client-certificate-data": _b64(cert_pem),
                                           "client-key-data": _b64(key_pem)}}
            ],
            "contexts": [
                {"name": "siptrunk-local", "context": {"cluster": "siptrunk-local", "user": "user"}}
            ],
            "current-context": "siptrunk-local",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    # -- helpers ---------------------------------------------------------------------

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl against this control plane."""
        return subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text, capture_output=True, text=True, check=check, timeout=timeout,
        )
