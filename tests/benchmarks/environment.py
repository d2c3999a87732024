"""One benchmark environment on 127.0.0.1: control plane with the CRD, an in-thread emulator, the
operator process and (briefly) a no-op kopf operator. `close()` stops everything it started."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from siptrunk_operator.emulator import EmulatorConfig, EmulatorServer
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from tests.localstack import LocalStack

from .kube_http import KubeTLS
from .measure import find_child, peak_rss_bytes

LATENCY_SECONDS = 0.05
CONNECT_AFTER_SECONDS = 1.0
NOOP_OPERATOR = Path(__file__).with_name("noop_operator.py")
NOOP_TIMEOUT_SECONDS = 300.0


def emulator_config() -> tuple[EmulatorConfig, bool]:
    """50 ms per API call and connections after 1 s; False when the emulator has no `latency_seconds`
    yet (the latency is then a fault rule, see `Environment.start`)."""
    native = "latency_seconds" in EmulatorConfig.model_fields
    settings: dict[str, object] = {"connect_after": CONNECT_AFTER_SECONDS}
    if native:
        settings["latency_seconds"] = LATENCY_SECONDS
    return EmulatorConfig.model_validate(settings), native


class Environment(LocalStack):
    """Use as a context manager: every server is stopped on exit, also on Ctrl-C."""

    def __init__(self, workdir: Path) -> None:
        config, self.native_latency = emulator_config()
        super().__init__(workdir, EmulatorServer(config))
        self.operator: OperatorProcess | None = None
        self.noop: subprocess.Popen[bytes] | None = None
        self._operators = 0

    def start(self) -> None:
        super().start()
        self._stack.callback(self.stop_noop)  # callbacks run last-registered first: these before the servers
        self._stack.callback(self.stop_operator)
        if not self.native_latency:
            self.control.add_fault(action="latency", latency=LATENCY_SECONDS)
        self.key_file = write_emulator_key(self.workdir, self.emulator_url, "bench@bench.iam.gserviceaccount.com")
        self.tls = KubeTLS.from_kubeconfig(self.plane.kubeconfig, self.workdir)

    def close(self) -> None:
        self._stack.close()

    def start_operator(self, requests_per_minute: int, workers: int) -> int:
        """A fresh cluster-wide operator process (the previous one is stopped), reconciling at most
        `workers` objects at a time (the baseline's concurrency); returns its pid."""
        self.stop_operator()
        self._operators += 1
        self.operator = OperatorProcess(
            kubeconfig=self.plane.kubeconfig, emulator_url=self.emulator_url, key_file=self.key_file,
            log_path=self.workdir / f"operator-{self._operators}.log", namespaces=(),
            extra_env={"SIPTRUNK_REQUESTS_PER_MINUTE": str(requests_per_minute), "SIPTRUNK_WORKERS": str(workers)},
        ).start()
        return find_child()

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None

    def operator_log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.operator.log_text().splitlines()[-lines:]) if self.operator else ""

    def start_noop(self) -> int:
        """`kopf run --standalone --all-namespaces noop_operator.py` with the same kubeconfig."""
        self.stop_noop()
        kopf = Path(sys.executable).with_name("kopf")
        log = (self.workdir / "noop-operator.log").open("ab")
        with log:
            self.noop = subprocess.Popen(
                [str(kopf), "run", "--standalone", "--all-namespaces", str(NOOP_OPERATOR)],
                env={**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return self.noop.pid

    async def noop_peak_rss(self, namespace: str, trunks: int) -> int:
        """Start the no-op operator, wait until its log shows `trunks` objects of `namespace` handled
        (kopf logs each handler call), read its VmHWM and stop it."""
        pid = await asyncio.to_thread(self.start_noop)
        handled = re.compile(rf"\[{re.escape(namespace)}/([^\]]+)\] Handler 'noop' succeeded")
        log = self.workdir / "noop-operator.log"
        deadline = time.monotonic() + NOOP_TIMEOUT_SECONDS
        while len(set(handled.findall(log.read_text(errors="replace") if log.exists() else ""))) < trunks:
            if time.monotonic() > deadline or self.noop is None or self.noop.poll() is not None:
                raise RuntimeError(f"the no-op operator did not handle {trunks} objects; see {log}")
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let the last events finish
        rss = peak_rss_bytes(pid)
        await asyncio.to_thread(self.stop_noop)
        return rss

    def stop_noop(self) -> None:
        if self.noop is not None and self.noop.poll() is None:
            self.noop.terminate()
            try:
                self.noop.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.noop.kill()
                self.noop.wait(timeout=10)
        self.noop = None

