"""The control-plane build script: a second run reuses the cache; KUBEBUILDER_ASSETS wins."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from siptrunk_operator.localcluster.binaries import BINARY_NAMES, BUILD_SCRIPT, find_binaries


def _run_without_go(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBEBUILDER_ASSETS"}
    env.update(PATH="/usr/bin:/bin", **env_overrides)  # no Go toolchain on PATH: nothing can be built
    return subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_second_run_reuses_the_cache_without_go() -> None:
    if os.environ.get("KUBEBUILDER_ASSETS"):
        pytest.skip("KUBEBUILDER_ASSETS is set: the user's binaries are used, nothing of ours is cached")
    built = find_binaries()  # builds on a cold cache (first run), reuses it afterwards
    result = _run_without_go({})
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == built.directory
    assert "building" not in result.stderr


def test_kubebuilder_assets_wins(tmp_path: Path) -> None:
    for name in BINARY_NAMES:
        binary = tmp_path / name
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    result = _run_without_go({"KUBEBUILDER_ASSETS": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path)


def test_kubebuilder_assets_missing_a_binary_is_a_clear_error(tmp_path: Path) -> None:
    result = _run_without_go({"KUBEBUILDER_ASSETS": str(tmp_path)})
    assert result.returncode != 0
    assert "has no executable kube-apiserver" in result.stderr
