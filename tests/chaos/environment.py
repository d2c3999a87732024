"""The chaos environment on 127.0.0.1: kube-apiserver + etcd with the CRD, the emulator in a thread (open
mode, with a state file, restartable on its port), the operator process (cluster-wide) and the
request-log collector. `close()` stops everything it started."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from siptrunk_operator.emulator import EmulatorConfig, EmulatorServer
from siptrunk_operator.localcluster.operator_process import OperatorProcess, write_emulator_key
from tests.benchmarks.kube_http import KubeTLS
from tests.e2e.conftest import FAST_OPERATOR_ENV
from tests.localstack import LocalStack

from .requestlog import LogCollector

OPERATOR_ENV = {**FAST_OPERATOR_ENV, "SIPTRUNK_REFRESH_FAST_SECONDS": "5", "SIPTRUNK_REFRESH_SLOW_SECONDS": "15"}
"""The e2e tests' fast retries, with listings every 5 s after a write and 15 s otherwise."""
CONNECT_AFTER_SECONDS = 1.0


class ChaosEnvironment(LocalStack):
    def __init__(self, workdir: Path, operator_env: Mapping[str, str]) -> None:
        self.emulator_config = EmulatorConfig(connect_after=CONNECT_AFTER_SECONDS,
                                              state_file=workdir / "emulator-state.json")
        super().__init__(workdir, EmulatorServer(self.emulator_config.model_copy()))
        self.operator_env = dict(operator_env)
        self.emulator_restarts = 0
        self.operator_started = 0.0

    def start(self) -> None:
        super().start()
        self.collector = LogCollector(self.control)
        key_file = write_emulator_key(self.workdir, self.emulator_url, "chaos@chaos.iam.gserviceaccount.com")
        self.tls = KubeTLS.from_kubeconfig(self.plane.kubeconfig, self.workdir)
        self.operator = OperatorProcess(
            kubeconfig=self.plane.kubeconfig, emulator_url=self.emulator_url, key_file=key_file,
            log_path=self.workdir / "operator.log", extra_env=self.operator_env, namespaces=(),
        )
        self._stack.callback(self.operator.stop)  # runs first: before the servers stop

    def start_operator(self) -> float:
        """Start the operator process; returns when (epoch seconds)."""
        self.operator_started = time.time()
        self.operator.start()
        return self.operator_started

    def kill_operator(self) -> float:
        """SIGKILL the operator; returns when (epoch seconds)."""
        killed = time.time()
        self.operator.stop(hard=True)
        return killed

    def restart_emulator(self, down_seconds: float) -> None:
        """Stop the emulator (held writes commit first), stay down, start a new one on the same port from
        the same state file: trunks survive, runtime settings, faults and the log do not."""
        port = self.emulator.port
        self.collector.poll()
        self.emulator.stop()
        time.sleep(down_seconds)
        self.emulator = EmulatorServer(self.emulator_config.model_copy())
        self.emulator.start_in_thread(port=port or 0)
        self.collector.emulator_restarted()
        self.emulator_restarts += 1

    def operator_log_tail(self, lines: int = 40) -> str:
        return "\n".join(line[:300] for line in self.operator.log_text().splitlines()[-lines:])
