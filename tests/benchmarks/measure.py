"""What the benchmarks read: a process's CPU and peak RSS from /proc, the machine, and the
emulator's request log for one project."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import siptrunk_operator
from siptrunk_operator.emulator import EmulatorControl
from siptrunk_operator.emulator.routing import Method, resolve_call

OPERATOR_CMDLINE = b"siptrunk_operator.cli\x00run"
_TICKS = os.sysconf("SC_CLK_TCK")
METHOD_NAMES = {Method.CREATE: "POST", Method.GET: "GET", Method.LIST: "LIST", Method.UPDATE: "PATCH",
                Method.DELETE: "DELETE"}
"""Request-log columns: GET is GET-one, LIST is a GET on the collection (one page)."""


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after `comm`: index 0 is field 3 (state)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the process's peak resident set size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def find_child(cmdline_part: bytes = OPERATOR_CMDLINE) -> int:
    """The newest child of this process whose command line contains `cmdline_part`."""
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry.name))
            if int(fields[1]) == os.getpid() and cmdline_part in (entry / "cmdline").read_bytes():
                found.append((int(fields[19]), int(entry.name)))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    if not found:
        raise RuntimeError(f"no child process running {cmdline_part!r}")
    return max(found)[1]


def machine_facts() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.machine())
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:"))
    return {
        "cpus": f"{os.cpu_count()} x {model}",
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": sys.version.split()[0],
        "kernel": platform.release(),
    }


def operator_revision() -> str:
    """Where `siptrunk_operator` is imported from (the operator process imports the same), and its git
    revision when that is a checkout."""
    package = Path(siptrunk_operator.__file__).resolve().parent
    try:
        git = ["git", "-C", str(package)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True,
                               check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{package} (not a git checkout)"
    return f"{package} at {head}" + (" + uncommitted changes" if dirty else "")


class RequestTally:
    """API calls to one project, accumulated from the emulator's request log by `poll()`.

    The log keeps only its last 10,000 entries, so a long burst must be polled while it runs;
    `complete` turns False when an entry may have been dropped between two polls.
    """

    def __init__(self, control: EmulatorControl, project: str) -> None:
        self.control, self.project = control, project
        self.entries: dict[int, dict[str, Any]] = {}
        self.complete = True
        self._lock = threading.Lock()  # polls run in worker threads

    def reset(self) -> None:
        """Clear the emulator's whole log and this tally."""
        with self._lock:
            self.control.clear_requests()
            self.entries.clear()
            self.complete = True

    def poll(self) -> int:
        """Fetch the log (later copies carry the final status); returns the newest seq seen."""
        with self._lock:
            fetched = self.control.requests(path_contains=f"/projects/{self.project}/")
            if self.entries and fetched and fetched[0]["seq"] > max(self.entries):
                self.complete = False  # our newest entry was evicted: others may have been too
            self.entries.update((entry["seq"], entry) for entry in fetched)
            return max(self.entries, default=0)

    def selected(self, until_seq: int | None = None) -> list[dict[str, Any]]:
        return [e for seq, e in sorted(self.entries.items()) if until_seq is None or seq <= until_seq]

    def by_method(self, until_seq: int | None = None) -> Counter[str]:
        counts: Counter[str] = Counter({name: 0 for name in METHOD_NAMES.values()})
        for entry in self.selected(until_seq):
            call = resolve_call(entry["method"], entry["path"])
            counts[METHOD_NAMES[call.method] if call else "other"] += 1
        return counts

    def list_passes(self, until_seq: int | None = None) -> int:
        """LIST calls that start a listing (no page token)."""
        return sum(1 for e in self.selected(until_seq)
                   if e["method"] == "GET" and e["path"].endswith("/sipTrunks") and not e["query"].get("pageToken"))

    def statuses(self, until_seq: int | None = None) -> Counter[str]:
        return Counter(str(e["status"]) for e in self.selected(until_seq))


@contextlib.asynccontextmanager
async def polling(tally: RequestTally, seconds: float = 5.0) -> AsyncIterator[RequestTally]:
    """Poll the request log every `seconds` inside the block, so a burst larger than the log loses nothing."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(tally.poll)

    task = asyncio.create_task(loop(), name="request-log-poll")
    try:
        yield tally
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
