"""The operator as a child process pointed at a local control plane and the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from siptrunk_operator.emulator.iam import generate_service_account_key


def write_emulator_key(directory: Path, emulator_url: str, email: str) -> Path:
    """A service-account key file whose token_uri is the emulator, for google-auth's real flow."""
    key, _public_pem = generate_service_account_key(email, token_uri=f"{emulator_url}/token")
    path = directory / "emulator-service-account.json"
    path.write_text(json.dumps(key))
    path.chmod(0o600)
    return path


class OperatorProcess:
    """`python -m siptrunk_operator.cli run` with the given kubeconfig, emulator and key file."""

    def __init__(self, *, kubeconfig: Path, emulator_url: str, key_file: Path, log_path: Path,
                 extra_env: dict[str, str] | None = None, namespaces: Sequence[str] = ()) -> None:
        """`namespaces` are kopf patterns (globs, `!` to exclude); empty means cluster-wide."""
        self.log_path = log_path
        self.namespace_args = [arg for pattern in namespaces for arg in ("--namespace", pattern)]
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "SIPTRUNK_API_EMULATOR_URL": emulator_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> OperatorProcess:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "siptrunk_operator.cli", "run", *self.namespace_args],
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended on its own (None while it runs)."""
        return None if self._process is None else self._process.poll()

    def stop(self, *, hard: bool = False) -> None:
        """SIGTERM and wait (kopf exits gracefully), or SIGKILL when `hard` (a crash)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
