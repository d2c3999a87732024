"""Find (or build and cache) kube-apiserver, etcd and kubectl.

Order: `KUBEBUILDER_ASSETS` if set, else the cache under `~/.cache/siptrunk-operator`,
else `deploy/local/controlplane/build.sh`, which builds them from Go modules.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "deploy" / "local" / "controlplane" / "build.sh"
BINARY_NAMES = ("kube-apiserver", "etcd", "kubectl")


class BinariesNotFoundError(RuntimeError):
    """The control-plane binaries are neither configured, cached nor buildable."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    directory: Path

    @property
    def kube_apiserver(self) -> Path:
        return self.directory / "kube-apiserver"

    @property
    def etcd(self) -> Path:
        return self.directory / "etcd"

    @property
    def kubectl(self) -> Path:
        return self.directory / "kubectl"


def _complete(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in BINARY_NAMES)


def find_binaries() -> ControlPlaneBinaries:
    """Return the binaries, building them once if needed (slow on a cold Go cache)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        directory = Path(assets)
        if not _complete(directory):
            raise BinariesNotFoundError(
                f"KUBEBUILDER_ASSETS={assets} must hold executables {', '.join(BINARY_NAMES)}"
            )
        return ControlPlaneBinaries(directory)
    if not BUILD_SCRIPT.exists():
        raise BinariesNotFoundError(f"build script not found at {BUILD_SCRIPT}; set KUBEBUILDER_ASSETS")
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=False, stdout=subprocess.PIPE, text=True
    )
    if result.returncode != 0:
        raise BinariesNotFoundError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    directory = Path(result.stdout.strip().splitlines()[-1])
    if not _complete(directory):
        raise BinariesNotFoundError(f"{BUILD_SCRIPT} reported {directory}, which lacks the binaries")
    return ControlPlaneBinaries(directory)
