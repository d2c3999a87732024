"""Every entry of the emulator's request log, polled incrementally and kept across emulator restarts.

The emulator keeps only its last 10,000 entries and fills an entry in as the request proceeds (a held
write commits seconds after it arrived), so the collector re-reads from its oldest unfinished entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from siptrunk_operator.emulator import EmulatorControl, EmulatorControlError

from .figures import stamp

UNFINISHED_PATIENCE_SECONDS = 120.0
"""An entry still unfinished after this long is taken as it is (its request was cut off)."""


class LogCollector:
    def __init__(self, control: EmulatorControl) -> None:
        self._control = control
        self._lock = threading.Lock()  # polls run in worker threads
        self._instance = 0
        self._entries: dict[tuple[int, int], dict[str, Any]] = {}
        self._first_seen: dict[tuple[int, int], float] = {}
        self._cursor = 0
        self.latest_token = 0.0
        """Arrival (epoch seconds) of the newest token request seen: a starting operator's first call."""
        self.complete = True
        """False once an entry may have been evicted between two polls."""

    def poll(self) -> None:
        with self._lock:
            fetched = self._control.requests(kind=None, after_seq=self._cursor)
            if fetched and fetched[0]["seq"] > self._cursor + 1:
                self.complete = False
            now = time.monotonic()
            for entry in fetched:
                key = (self._instance, int(entry["seq"]))
                self._entries[key] = entry
                self._first_seen.setdefault(key, now)
                if entry["kind"] == "token":
                    self.latest_token = max(self.latest_token, stamp(entry["time"]))
            self._advance(now)

    def _advance(self, now: float) -> None:
        unfinished = [seq for (instance, seq), entry in self._entries.items()
                      if instance == self._instance and entry.get("done") is None
                      and now - self._first_seen[(instance, seq)] < UNFINISHED_PATIENCE_SECONDS]
        newest = max((seq for instance, seq in self._entries if instance == self._instance), default=0)
        self._cursor = min(unfinished) - 1 if unfinished else newest

    def emulator_restarted(self) -> None:
        """The emulator now runs as a new instance whose log starts again at seq 1."""
        with self._lock:
            self._instance += 1
            self._cursor = 0

    def entries(self) -> list[dict[str, Any]]:
        """Everything collected so far, oldest first (poll first for the latest)."""
        with self._lock:
            return [self._entries[key] for key in sorted(self._entries)]


@contextlib.asynccontextmanager
async def polling(collector: LogCollector, seconds: float = 2.0) -> AsyncIterator[LogCollector]:
    """Poll every `seconds` inside the block, so nothing is evicted unseen (an emulator that is down is
    read at the next poll)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            with contextlib.suppress(httpx.HTTPError, EmulatorControlError):
                await asyncio.to_thread(collector.poll)

    task = asyncio.create_task(loop(), name="chaos-request-log")
    try:
        yield collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
