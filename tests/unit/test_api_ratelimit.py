"""The per-project token bucket, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from siptrunk_operator.api.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def limiter(fake: FakeTime, rpm: float = 60, burst: int = 3) -> RateLimiter:
    return RateLimiter(rpm, burst, clock=fake.clock, sleep=fake.sleep)


async def test_burst_then_one_per_second(fake: FakeTime) -> None:
    bucket = limiter(fake)
    waits = [await bucket.acquire("p") for _ in range(6)]
    # 3 admitted at once; then reservations queue 1 s apart (60/min).
    assert waits == pytest.approx([0, 0, 0, 1, 2, 3])
    assert fake.sleeps == pytest.approx([1, 2, 3])


async def test_refill_with_time(fake: FakeTime) -> None:
    bucket = limiter(fake, rpm=120, burst=2)
    assert [await bucket.acquire("p") for _ in range(2)] == [0, 0]
    fake.now += 0.5  # one token back at 2/s
    assert await bucket.acquire("p") == 0
    assert await bucket.acquire("p") == pytest.approx(0.5)
    fake.now += 100  # long idle: refills only up to the burst
    assert [await bucket.acquire("p") for _ in range(2)] == [0, 0]
    assert await bucket.acquire("p") > 0


async def test_projects_are_independent(fake: FakeTime) -> None:
    bucket = limiter(fake, burst=1)
    assert await bucket.acquire("a") == 0
    assert await bucket.acquire("b") == 0
    assert await bucket.acquire("a") == pytest.approx(1)


async def test_zero_rate_disables(fake: FakeTime) -> None:
    bucket = limiter(fake, rpm=0)
    assert [await bucket.acquire("p") for _ in range(100)] == [0] * 100
    assert fake.sleeps == []


async def test_cancelled_waiter_returns_its_slot() -> None:
    fake = FakeTime()
    gate = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        fake.sleeps.append(seconds)
        await gate.wait()

    bucket = RateLimiter(60, 1, clock=fake.clock, sleep=blocking_sleep)
    assert await bucket.acquire("p") == 0
    waiter = asyncio.create_task(bucket.acquire("p"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    fake.now += 1.0  # one token refilled; the cancelled reservation was given back
    assert await bucket.acquire("p") == 0


async def test_waits_do_not_block_the_loop() -> None:
    bucket = RateLimiter(60 * 50, 1)  # real clock and sleep: 20 ms between requests
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.gather(*(bucket.acquire("p") for _ in range(4)))
    task.cancel()
    assert ticks > 5


def test_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(-1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(60, 0)
