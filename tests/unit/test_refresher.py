"""The shared listing: one list serves many, only changes wake objects, writes win over older lists."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from siptrunk_operator.api import Unavailable
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.refresher import PAGE_SIZE, CachedTrunk, TrunkRefresher

PARENT = "projects/p/locations/global"


def name(trunk_id: str) -> str:
    return f"{PARENT}/sipTrunks/{trunk_id}"


def trunk(trunk_id: str, state: str | None = "CONNECTED") -> SipTrunk:
    connections = [{"connectionId": "c", "state": state}] if state else []
    return SipTrunk.model_validate({"name": name(trunk_id), "expectedHostname": ["a.b.c"],
                                    "connections": connections})


class FakeLister:
    def __init__(self) -> None:
        self.trunks: list[SipTrunk] = []
        self.calls: list[int | None] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.during_list: list[SipTrunk] = []
        self.backlog = 0
        self.refresher: TrunkRefresher | None = None

    async def list_pages(self, project: str, location: str, page_size: int | None = None,
                         page_token: str | None = None, *,
                         decode: Callable[[Any], tuple[list[SipTrunk], str]] | None = None,
                         ) -> AsyncIterator[tuple[list[SipTrunk], str]]:
        self.calls.append(page_size)
        snapshot = list(self.trunks)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        for written in self.during_list:
            assert self.refresher is not None
            self.refresher.record(written)
        yield snapshot, ""

    def quota_backlog(self, project: str) -> int:
        return self.backlog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: float) -> tuple[FakeLister, Clock, TrunkRefresher, list[list[str]]]:
    lister, clock, changes = FakeLister(), Clock(), []
    refresher = TrunkRefresher(lister, fast_seconds=10, slow_seconds=30, settle_seconds=60, clock=clock,
                               wall=lambda: "2026-12-01T10:00:00.000000Z",
                               on_change=lambda names: changes.append(sorted(names)), **kwargs)
    lister.refresher = refresher
    return lister, clock, refresher, changes


def list_now(refresher: TrunkRefresher, at: float = 0.0) -> tuple[SipTrunk, ...]:
    return asyncio.run(refresher.listing("p", "global", started_after=at))


def test_lookup_before_and_after_the_first_listing() -> None:
    lister, _, refresher, changes = make()
    lister.trunks = [trunk("a")]
    refresher.watch(name("a"))
    refresher.watch(name("b"))
    assert refresher.lookup(name("a")) is None  # not listed yet, nothing wrong: wait
    list_now(refresher)
    assert refresher.lookup(name("a")) == CachedTrunk(trunk("a"), "2026-12-01T10:00:00.000000Z")
    assert refresher.lookup(name("b")) == CachedTrunk(None, "2026-12-01T10:00:00.000000Z")
    assert changes == [[name("a"), name("b")]]
    assert lister.calls == [PAGE_SIZE] and PAGE_SIZE == 1000


def test_creates_waiting_together_share_one_listing_started_after_their_markers() -> None:
    lister, clock, refresher, _ = make()

    async def scenario() -> int:
        lister.gate = asyncio.Event()
        first = [asyncio.create_task(refresher.listing("p", "global", started_after=clock.now)) for _ in range(50)]
        await asyncio.sleep(0)
        clock.now += 1  # markers confirmed after the first listing started must wait for the next one
        later = [asyncio.create_task(refresher.listing("p", "global", started_after=clock.now)) for _ in range(50)]
        await asyncio.sleep(0)
        lister.gate.set()
        await asyncio.gather(*first, *later)
        return len(lister.calls)

    assert asyncio.run(scenario()) == 2


def test_only_changed_trunks_are_reported() -> None:
    lister, _, refresher, changes = make()
    lister.trunks = [trunk("a"), trunk("b")]
    refresher.watch(name("a"))
    refresher.watch(name("b"))
    list_now(refresher)
    list_now(refresher)
    assert changes == [[name("a"), name("b")]]
    lister.trunks = [trunk("a", state="DISCONNECTED"), trunk("b")]
    list_now(refresher)
    lister.trunks = [trunk("b")]
    list_now(refresher)
    assert changes[1:] == [[name("a")], [name("a")]]


def test_a_write_during_a_listing_wins_over_the_older_listing() -> None:
    lister, clock, refresher, _ = make()
    lister.trunks = [trunk("a", state=None)]
    refresher.watch(name("a"))
    lister.during_list = [trunk("a", state="CONNECTED")]
    list_now(refresher)
    cached = refresher.lookup(name("a"))
    assert isinstance(cached, CachedTrunk) and cached.trunk == trunk("a", state="CONNECTED")
    lister.during_list = []
    clock.now += 1
    list_now(refresher)  # a listing started after the write is the truth again
    cached = refresher.lookup(name("a"))
    assert isinstance(cached, CachedTrunk) and cached.trunk == trunk("a", state=None)


def test_a_listing_that_keeps_failing_is_reported_once_and_its_recovery_too() -> None:
    lister, clock, refresher, changes = make()
    lister.trunks = [trunk("a")]
    refresher.watch(name("a"))
    list_now(refresher)
    lister.fail = Unavailable("down", http_status=503)
    clock.now += 10
    asyncio.run(_try_list(refresher))
    assert isinstance(refresher.lookup(name("a")), CachedTrunk)  # young enough to trust
    clock.now += 100
    asyncio.run(_try_list(refresher))
    asyncio.run(_try_list(refresher))
    problem = refresher.lookup(name("a"))
    assert isinstance(problem, str) and "503" in problem and "projects/p/locations/global" in problem
    assert changes == [[name("a")], [name("a")]]
    lister.fail = None
    list_now(refresher)
    assert changes[-1] == [name("a")] and len(changes) == 3


async def _try_list(refresher: TrunkRefresher) -> None:
    with contextlib.suppress(Unavailable):
        await refresher.listing("p", "global", started_after=0)
    await asyncio.sleep(0)  # let the done-callback run


def test_watching_a_name_in_a_listed_parent_does_not_list_again() -> None:
    _, _, refresher, _ = make()
    refresher.watch(name("a"))
    list_now(refresher)
    due = refresher._parents[("p", "global")].next_due
    refresher.watch(name("b"))
    assert refresher._parents[("p", "global")].next_due == due


def test_cadence_is_fast_only_while_the_operator_wrote_lately() -> None:
    lister, clock, refresher, _ = make()
    lister.trunks = [trunk("a")]
    refresher.watch(name("a"))
    list_now(refresher)
    parent = refresher._parents[("p", "global")]
    assert parent.next_due == clock.now + 30  # seen changing in the API: the slow pace bounds staleness
    refresher.record(trunk("a", state="DISCONNECTED"))  # the operator wrote it: its connections settle
    assert parent.next_due == clock.now + 10
    list_now(refresher)
    assert parent.next_due == clock.now + 10
    clock.now += 61
    list_now(refresher)
    assert parent.next_due == clock.now + 30


def test_a_scheduled_listing_yields_to_writes_waiting_for_the_quota() -> None:
    lister, clock, refresher, _ = make()
    refresher.watch(name("a"))
    lister.backlog = 3

    async def one_round() -> None:
        task = asyncio.create_task(refresher.run())
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(one_round())
    assert lister.calls == [] and refresher._parents[("p", "global")].next_due == clock.now + 10
    lister.backlog = 0
    clock.now += 10
    asyncio.run(one_round())
    assert lister.calls == [PAGE_SIZE]
