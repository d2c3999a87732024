"""kstatus, the status Flux and other `sigs.k8s.io/cli-utils` tools compute, for objects given as dicts.

The library is Go; `tools/kstatus/build.sh` builds a small command on it from Go modules (as the
control plane is built) and caches it under `~/.cache/siptrunk-operator`. `KSTATUS_BINARY`, when set,
names a ready binary and nothing is built.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siptrunk_operator.localcluster.binaries import REPO_ROOT

KSTATUS_BUILD_SCRIPT = REPO_ROOT / "tools" / "kstatus" / "build.sh"
# A cold build (module download + compile) takes about a minute on two cores; a busy machine is slower.
BUILD_TIMEOUT_SECONDS = 900.0


class KstatusUnavailableError(RuntimeError):
    """The kstatus command is neither configured, cached nor buildable (Go missing, build failed)."""


@dataclass(frozen=True)
class KstatusResult:
    """What `status.Compute` said: `status` is one of InProgress, Current, Failed, Terminating, NotFound, Unknown."""

    status: str
    message: str
    conditions: tuple[Mapping[str, str], ...]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> KstatusResult:
        return cls(str(raw["status"]), str(raw.get("message", "")),
                   tuple(dict(c) for c in raw.get("conditions") or ()))


@functools.cache
def find_kstatus() -> Path:
    """The kstatus binary: `KSTATUS_BINARY`, else the cache, else built (once per process) by build.sh."""
    configured = os.environ.get("KSTATUS_BINARY")
    if configured:
        if not os.access(configured, os.X_OK):
            raise KstatusUnavailableError(f"KSTATUS_BINARY={configured} is not an executable")
        return Path(configured)
    if not KSTATUS_BUILD_SCRIPT.exists():
        raise KstatusUnavailableError(f"build script not found at {KSTATUS_BUILD_SCRIPT}; set KSTATUS_BINARY")
    try:
        result = subprocess.run(["bash", str(KSTATUS_BUILD_SCRIPT)], check=False, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise KstatusUnavailableError(
            f"{KSTATUS_BUILD_SCRIPT} did not finish within {BUILD_TIMEOUT_SECONDS:.0f}s") from None
    if result.returncode != 0:
        raise KstatusUnavailableError(
            f"{KSTATUS_BUILD_SCRIPT} failed with exit code {result.returncode}:\n{result.stderr.strip()}")
    lines = result.stdout.strip().splitlines()
    binary = Path(lines[-1]) if lines else None
    if binary is None or not os.access(binary, os.X_OK):
        raise KstatusUnavailableError(f"{KSTATUS_BUILD_SCRIPT} reported {binary}, which is not an executable")
    return binary


def _run(payload: object, binary: Path | None) -> Any:
    command = str(binary or find_kstatus())
    result = subprocess.run([command], input=json.dumps(payload), check=False, capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        raise KstatusUnavailableError(f"{command} failed with exit code {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def compute_status(obj: Mapping[str, Any], binary: Path | None = None) -> KstatusResult:
    """kstatus of one object (a dict as the API server returns it)."""
    return KstatusResult.from_json(_run(obj, binary))


def compute_statuses(objects: Sequence[Mapping[str, Any]], binary: Path | None = None) -> list[KstatusResult]:
    """kstatus of several objects, in one run of the command."""
    return [KstatusResult.from_json(raw) for raw in _run(list(objects), binary)]
