"""A work queue after client-go's: each key is queued at most once and processed by one worker at a
time; a key added while it is processed runs again right after. `add_after` is the one clock."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K) -> None:
        self._cancel_timer(key)
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds, replacing any earlier wake-up of it."""
        self._cancel_timer(key)
        if delay <= 0:
            self.add(key)
            return
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _cancel_timer(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def scheduled(self, key: K) -> float | None:
        """When `key` is due (event-loop time), if a wake-up is pending."""
        timer = self._timers.get(key)
        return None if timer is None else timer.when()

    async def get(self) -> K:
        while True:
            key = await self._ready.get()
            if key in self._queued:  # a forgotten key's entry is skipped
                break
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: K) -> None:
        """Drop every trace of `key` (its object is gone)."""
        self._cancel_timer(key)
        self._dirty.discard(key)
        self._queued.discard(key)

    @property
    def idle(self) -> bool:
        return not self._queued and not self._processing
