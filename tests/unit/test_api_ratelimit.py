"""The per-project sliding-log rate limiter, driven by virtual time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

import pytest

from siptrunk_operator.api import ClientSettings
from siptrunk_operator.api.ratelimit import Priority, RateLimiter, priority_for

pytestmark = pytest.mark.anyio

READ, WRITE = Priority.READ, Priority.WRITE
SERVER_WINDOW = 60.0


async def settle() -> None:
    """Let every task that can run do so, until all of them wait on a fake timer or an event.

    "Nothing runnable" is read off the loop's ready queue (a CPython asyncio detail, but the only
    exact signal); fake-time tests have no real timers or I/O.
    """
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    while loop._ready:  # type: ignore[attr-defined]  # noqa: ASYNC110 - yielding is the point
        await asyncio.sleep(0)


class FakeTime:
    """Virtual time: ``sleep`` parks its caller until :meth:`run_until` moves the clock to its end."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._order), future))
        await future

    async def run_until(self, when: float) -> None:
        """Fire the timers due by ``when`` in order, letting tasks run after each; end at ``when``."""
        await settle()
        while self._timers and self._timers[0][0] <= when:
            due, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            if not future.done():  # a cancelled sleeper's future is done already
                future.set_result(None)
            await settle()
        self.now = max(self.now, when)
        await settle()


class Recorder:
    """Starts ``acquire`` calls as tasks and records, in admission order, ``(label, admitted_at, waited)``."""

    def __init__(self, fake: FakeTime, limiter: RateLimiter) -> None:
        self.fake = fake
        self.limiter = limiter
        self.admitted: list[tuple[str, float, float]] = []

    def start(self, label: str, priority: Priority = READ, key: str = "p") -> asyncio.Task[None]:
        async def request() -> None:
            waited = await self.limiter.acquire(key, priority)
            self.admitted.append((label, self.fake.now, waited))

        return asyncio.create_task(request())

    @property
    def order(self) -> list[str]:
        return [label for label, _, _ in self.admitted]

    @property
    def times(self) -> dict[str, float]:
        return {label: at for label, at, _ in self.admitted}


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make(fake: FakeTime, rpm: int = 3, margin: float = 1.0) -> tuple[RateLimiter, Recorder]:
    limiter = RateLimiter(rpm, margin=margin, clock=fake.clock, sleep=fake.sleep)
    return limiter, Recorder(fake, limiter)


def most_in_any_window(times: list[float], length: float) -> int:
    """The most of ``times`` inside any closed interval ``[t, t + length]``, as a server counts."""
    times = sorted(times)
    most = start = 0
    for end, at in enumerate(times):
        while at - times[start] > length:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize(("rpm", "margin", "seed"), [(1, 1.0, 1), (3, 1.0, 2), (7, 0.25, 3), (60, 1.0, 4)])
async def test_no_server_window_ever_holds_more_than_the_limit(rpm: int, margin: float, seed: int) -> None:
    fake = FakeTime()
    _, recorder = make(fake, rpm, margin)
    rng = random.Random(seed)
    arrivals: dict[str, float] = {}
    tasks: list[asyncio.Task[None]] = []
    when = 0.0
    for n in range(30 * rpm + 40):
        roll = rng.random()  # bursts, a stream above the limit, and an idle spell every ~3 minutes' worth
        when += 0.0 if roll < 0.3 else 120.0 if roll > 1 - 1 / (3 * rpm) else rng.expovariate(rpm / 75)
        await fake.run_until(when)
        label = f"r{n}"
        arrivals[label] = fake.now
        tasks.append(recorder.start(label, rng.choice([READ, WRITE])))
        pending = [task for task in tasks if not task.done()]
        if pending and rng.random() < 0.1:
            rng.choice(pending).cancel()
    await fake.run_until(when + 3600 * 24)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(o is None or isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert len(recorder.admitted) == outcomes.count(None) > 20 * rpm  # every survivor got in
    times = sorted(recorder.times.values())
    assert most_in_any_window(times, SERVER_WINDOW) <= rpm
    assert most_in_any_window(times, SERVER_WINDOW + margin - 1e-6) <= rpm
    assert most_in_any_window(times, SERVER_WINDOW + margin + 1e-6) > rpm  # the test does reach the limit
    for label, at, waited in recorder.admitted:
        assert waited == pytest.approx(at - arrivals[label], abs=1e-6)
        if waited > 1e-6:  # no idle slot: a delayed request goes in as soon as one admission leaves
            assert any(abs(at - margin - SERVER_WINDOW - other) < 1e-6 for other in times)


async def test_limit_at_once_then_a_full_window(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=3)
    assert [await limiter.acquire("p") for _ in range(3)] == [0, 0, 0]
    assert fake.sleeps == []
    fake.now = 30.0
    late = [recorder.start(f"late{i}") for i in range(4)]
    await fake.run_until(60.999)
    assert recorder.admitted == []
    await fake.run_until(61.0)
    assert recorder.admitted == [("late0", 61.0, 31.0), ("late1", 61.0, 31.0), ("late2", 61.0, 31.0)]
    await fake.run_until(121.999)
    assert len(recorder.admitted) == 3
    await fake.run_until(122.0)
    assert recorder.admitted[3] == ("late3", 122.0, 92.0)
    await asyncio.gather(*late)


async def test_margin_widens_the_window(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=1, margin=2.5)
    await limiter.acquire("p")
    task = recorder.start("next")
    await fake.run_until(62.4)
    assert recorder.admitted == []
    await fake.run_until(62.5)
    assert recorder.times == {"next": 62.5}
    await task


async def test_writes_jump_ahead_of_queued_reads(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=1)
    await limiter.acquire("p", READ)
    tasks = []
    for at, label, priority in [(1, "read1", READ), (2, "read2", READ), (3, "write", WRITE)]:
        await fake.run_until(at)
        tasks.append(recorder.start(label, priority))
    await fake.run_until(1000)
    assert recorder.order == ["write", "read1", "read2"]
    assert recorder.times == {"write": 61.0, "read1": 122.0, "read2": 183.0}
    await asyncio.gather(*tasks)


async def test_fifo_within_a_priority(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=2)
    await limiter.acquire("p")
    await limiter.acquire("p")
    labels = ["r1", "w1", "r2", "r3", "w2", "r4", "w3"]
    tasks = [recorder.start(label, WRITE if label[0] == "w" else READ) for label in labels]
    await fake.run_until(1000)
    assert recorder.order == ["w1", "w2", "w3", "r1", "r2", "r3", "r4"]
    await asyncio.gather(*tasks)


async def test_newcomer_does_not_overtake_a_waiter_when_a_slot_frees(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=1)
    await limiter.acquire("p")
    waiter = recorder.start("waiter")
    await fake.run_until(60.0)
    fake.now = 61.0  # the slot is free, and the waiter's timer has not fired yet
    newcomer = recorder.start("newcomer")
    await fake.run_until(1000)
    assert recorder.times == {"waiter": 61.0, "newcomer": 122.0}
    await asyncio.gather(waiter, newcomer)


@pytest.mark.parametrize("cancelled", ["head", "middle"])
async def test_cancelled_waiter_takes_no_slot(fake: FakeTime, cancelled: str) -> None:
    limiter, recorder = make(fake, rpm=1)
    await limiter.acquire("p")
    tasks = {label: recorder.start(label) for label in ["head", "middle", "tail"]}
    await fake.run_until(10)
    tasks[cancelled].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks.pop(cancelled)
    await fake.run_until(1000)
    survivors = [label for label in ["head", "middle", "tail"] if label != cancelled]
    assert recorder.times == dict(zip(survivors, [61.0, 122.0], strict=True))
    await asyncio.gather(*tasks.values())


async def test_cancelled_just_after_being_woken(fake: FakeTime) -> None:
    """A waiter cancelled after the head hands over to it (its wake-up is pending) passes it on."""
    limiter, recorder = make(fake, rpm=2)
    await limiter.acquire("p")
    await limiter.acquire("p")
    first, second, third = (recorder.start(label) for label in ["first", "second", "third"])
    await fake.run_until(60.999)
    fake.now = 61.0
    for _, _, timer in fake._timers:  # fire the head's timer by hand, then cancel the next waiter
        timer.set_result(None)
    fake._timers.clear()
    await asyncio.sleep(0)  # head admitted and "second" woken, but not yet run
    second.cancel()
    await fake.run_until(1000)
    assert recorder.times == {"first": 61.0, "third": 61.0}
    assert second.cancelled()
    await asyncio.gather(first, third)


async def test_keys_are_independent(fake: FakeTime) -> None:
    limiter, recorder = make(fake, rpm=1)
    await limiter.acquire("a")
    queued = recorder.start("a2", key="a")
    await fake.run_until(5)
    assert await limiter.acquire("b") == 0  # "a" is full and has a waiter; "b" is untouched
    await fake.run_until(61)
    assert recorder.times == {"a2": 61.0}
    await queued


async def test_zero_rate_disables(fake: FakeTime) -> None:
    limiter, _ = make(fake, rpm=0)
    assert [await limiter.acquire("p", WRITE) for _ in range(1000)] == [0] * 1000
    assert fake.sleeps == []


async def test_real_sleep_is_cancellable_and_frees_the_queue() -> None:
    limiter = RateLimiter(1)  # real clock and sleep
    assert await limiter.acquire("p") == 0
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire("p"), 0.01)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire("p", WRITE), 0.01)
    assert await limiter.acquire("q") == 0


def test_priority_by_method() -> None:
    assert [priority_for(m) for m in ("GET", "get")] == [READ, READ]
    assert [priority_for(m) for m in ("POST", "PATCH", "DELETE", "post")] == [WRITE] * 4


def test_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(-1)
    with pytest.raises(ValueError, match="margin"):
        RateLimiter(60, margin=-0.5)


def test_settings() -> None:
    settings = ClientSettings()
    assert (settings.requests_per_minute, settings.rate_limit_margin_seconds) == (60, 1.0)
    with pytest.raises(ValueError, match="integer"):
        ClientSettings(requests_per_minute=30.5)
    with pytest.raises(ValueError, match="rate_limit_burst"):
        ClientSettings(rate_limit_burst=5)  # type: ignore[call-arg]
