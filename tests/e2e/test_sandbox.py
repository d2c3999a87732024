"""`siptrunk-operator dev` does what the README says: one command, ending in `kubectl get siptrunks`."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_dev_sandbox_ends_in_a_healthy_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "siptrunk_operator.cli", "dev", "--once"],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    assert lines[header].split()[:3] == ["NAME", "DISPLAY", "NAME"]
    row = lines[header + 1].split()
    assert row[0] == "carrier-a"
    assert "2/2" in row and "Valid" in row and "True" in row and "UpToDate" in row
