"""Per-project client-side rate limit: a sliding log of admission times per key.

Dialogflow's quotas are per consumer project and counted over a rolling minute ("all other
requests per minute: 60"). Staying under them client-side avoids 429s rather than retrying them,
but only if the limit is exact: a token bucket's burst plus refill lets more than the quota through
in some 60 s window. Here a request is admitted only when fewer than ``requests_per_minute``
requests were admitted for its key in the last ``60 + margin`` seconds; the margin absorbs the
skew between our admission time and the server's arrival time.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

QUOTA_WINDOW_SECONDS = 60.0
"""The server's counting window."""


class Priority(IntEnum):
    """Waiters with a higher priority are admitted first; FIFO within a priority."""

    READ = 0
    WRITE = 1


def priority_for(method: str) -> Priority:
    """Writes (POST/PATCH/DELETE) go before reads (GET), so that list sweeps do not starve them."""
    return Priority.READ if method.upper() in ("GET", "HEAD") else Priority.WRITE


@dataclass(order=True, slots=True)
class _Ticket:
    rank: tuple[int, int]
    """``(-priority, arrival)``: the heap's smallest is served next."""
    woken: asyncio.Event = field(default_factory=asyncio.Event, compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass(slots=True)
class _Lane:
    """One key: its last admissions (oldest first) and its waiters (a heap; cancelled ones lazily dropped)."""

    admitted: deque[float]
    queue: list[_Ticket] = field(default_factory=list)

    def head(self) -> _Ticket | None:
        while self.queue and self.queue[0].cancelled:
            heapq.heappop(self.queue)
        return self.queue[0] if self.queue else None

    def delay(self, now: float, window: float) -> float:
        """Seconds until one more admission keeps at most ``maxlen`` of them in any ``window``."""
        if len(self.admitted) < (self.admitted.maxlen or 0):
            return 0.0
        return self.admitted[0] + window - now

    def wake_head(self) -> None:
        head = self.head()
        if head is not None:
            head.woken.set()


class RateLimiter:
    """``await acquire(key, priority)`` admits at most ``requests_per_minute`` per key in any
    window of ``60 + margin`` seconds; ``requests_per_minute == 0`` disables limiting.

    Requests are admitted at once while there is room and nobody waits; otherwise they queue by
    priority, then arrival. A cancelled waiter leaves the queue without taking a slot. ``clock``
    and ``sleep`` are injectable; ``sleep(s)`` must let ``clock`` advance by ``s``.
    """

    def __init__(
        self,
        requests_per_minute: int,
        *,
        margin: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests_per_minute < 0 or margin < 0:
            raise ValueError("requests_per_minute and margin must be >= 0")
        self._limit = int(requests_per_minute)
        self._window = QUOTA_WINDOW_SECONDS + margin
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._arrivals = 0

    def waiting(self, key: str) -> int:
        """How many requests for ``key`` wait for a slot (the quota is the bottleneck when > 0)."""
        lane = self._lanes.get(key)
        return 0 if lane is None else sum(not ticket.cancelled for ticket in lane.queue)

    async def acquire(self, key: str, priority: Priority = Priority.READ) -> float:
        """Wait for a slot for ``key``; returns the seconds waited (0 if admitted at once)."""
        if self._limit == 0:
            return 0.0
        start = self._clock()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(deque(maxlen=self._limit))
        if lane.head() is None and lane.delay(start, self._window) <= 0:
            lane.admitted.append(start)
            return 0.0
        self._arrivals += 1
        ticket = _Ticket((-priority, self._arrivals))
        heapq.heappush(lane.queue, ticket)
        try:
            while True:
                if lane.head() is not ticket:
                    ticket.woken.clear()
                    await ticket.woken.wait()  # set when we become the head
                    continue
                now = self._clock()
                delay = lane.delay(now, self._window)
                if delay <= 0:
                    heapq.heappop(lane.queue)
                    lane.admitted.append(now)  # the deque drops the admission that left the window
                    lane.wake_head()
                    return now - start
                await self._sleep(delay)  # then re-check: a write may have arrived and gone first
        except BaseException:
            ticket.cancelled = True
            lane.wake_head()
            raise
