"""Per-project client-side rate limit: one token bucket per key.

Dialogflow's quotas are per consumer project ("all other requests per minute: 60"), so staying
under them client-side avoids 429s rather than retrying them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; tokens may go negative (reservations)."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self) -> None:
        self.tokens = min(self.capacity, self.tokens + 1)


class RateLimiter:
    """``await acquire(key)`` admits at most ``requests_per_minute`` per key, after an initial burst.

    Waiters are served in arrival order (each reserves a slot, then sleeps until it); a cancelled
    waiter gives its slot back. ``requests_per_minute == 0`` disables limiting.
    """

    def __init__(
        self,
        requests_per_minute: float,
        burst: int = 5,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests_per_minute < 0 or burst < 1:
            raise ValueError("requests_per_minute must be >= 0 and burst >= 1")
        self._rate = requests_per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    async def acquire(self, key: str) -> float:
        """Wait for a slot for ``key``; returns the seconds waited (0 if admitted at once)."""
        if self._rate == 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._burst, now)
        wait = bucket.reserve(now)
        if wait > 0:
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                bucket.refund()
                raise
        return wait
