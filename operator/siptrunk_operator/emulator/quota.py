"""The optional per-project quota (``quota_per_minute``): Google's "requests per minute per project".

A consumer project may have at most ``limit`` accepted requests in any rolling window of 60 seconds,
counted at arrival; rejected requests do not count. Requests are counted only while a quota is set;
setting ``quota_per_minute`` through ``POST /_emulator/config`` or ``POST /_emulator/reset`` starts
with empty windows.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable

from aiohttp import web

WINDOW_SECONDS = 60.0


class RollingQuota:
    """Rolling-window admission per key; ``clock`` returns seconds (monotonic by default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self._arrivals: dict[str, deque[float]] = {}

    def admit(self, key: str, limit: int) -> float | None:
        """Count one request for ``key``: ``None`` if admitted, else the seconds until one more would be."""
        now = self._clock()
        arrivals = self._arrivals.setdefault(key, deque())
        while arrivals and arrivals[0] <= now - self._window:
            arrivals.popleft()
        if len(arrivals) < limit:
            arrivals.append(now)
            return None
        return arrivals[len(arrivals) - limit] + self._window - now

    def clear(self) -> None:
        self._arrivals.clear()


_BY_APP: weakref.WeakKeyDictionary[web.Application, RollingQuota] = weakref.WeakKeyDictionary()


def app_quota(app: web.Application) -> RollingQuota:
    """The quota windows of one emulator application (created on first use)."""
    quota = _BY_APP.get(app)
    if quota is None:
        quota = _BY_APP[app] = RollingQuota()
    return quota
