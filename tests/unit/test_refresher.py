"""The list-based refresher: cadence, write-through, staleness, with a fake client and clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from siptrunk_operator.api import Unavailable
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.refresher import TrunkRefresher

PARENT = "projects/p/locations/global"


def trunk(trunk_id: str, state: str | None = "CONNECTED") -> SipTrunk:
    connections = [{"connectionId": "c", "state": state}] if state else []
    return SipTrunk.model_validate({"name": f"{PARENT}/sipTrunks/{trunk_id}", "expectedHostname": ["a.b.c"],
                                    "connections": connections})


class FakeClient:
    def __init__(self) -> None:
        self.trunks: list[SipTrunk] = []
        self.calls = 0
        self.fail: Exception | None = None
        self.during_list: list[SipTrunk] = []  # written by "the operator" while a list is in flight
        self.refresher: TrunkRefresher | None = None

    async def list_pages(self, project: str, location: str, page_size: int) -> AsyncIterator[
            tuple[list[SipTrunk], str]]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        snapshot = list(self.trunks)
        for written in self.during_list:
            assert self.refresher is not None
            self.refresher.record(written)
        yield snapshot, ""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> tuple[FakeClient, Clock, TrunkRefresher]:
    client, clock = FakeClient(), Clock()
    refresher = TrunkRefresher(client, fast_seconds=10, slow_seconds=30, settle_seconds=60,  # type: ignore[arg-type]
                               clock=clock)
    client.refresher = refresher
    return client, clock, refresher


def refresh(refresher: TrunkRefresher, name: str) -> None:
    asyncio.run(refresher.refresh_now(name))


def test_one_list_observes_every_trunk_and_missing_ones(setup: tuple[FakeClient, Clock, TrunkRefresher]) -> None:
    client, _, refresher = setup
    client.trunks = [trunk("a"), trunk("b")]
    for trunk_id in "abc":
        refresher.watch(f"{PARENT}/sipTrunks/{trunk_id}")
    assert refresher.observed(f"{PARENT}/sipTrunks/a") is None  # never listed yet
    refresh(refresher, f"{PARENT}/sipTrunks/a")
    assert client.calls == 1
    observed_a = refresher.observed(f"{PARENT}/sipTrunks/a")
    assert observed_a is not None and observed_a.trunk == client.trunks[0]
    observed_c = refresher.observed(f"{PARENT}/sipTrunks/c")
    assert observed_c is not None and observed_c.trunk is None


def test_cadence_is_fast_while_unhealthy_or_recently_changed(
    setup: tuple[FakeClient, Clock, TrunkRefresher],
) -> None:
    client, clock, refresher = setup
    name = f"{PARENT}/sipTrunks/a"
    refresher.watch(name)
    client.trunks = [trunk("a", state=None)]
    refresh(refresher, name)
    parent = refresher._parent_of(name)
    assert parent.next_due == clock.now + 10  # no connection yet
    client.trunks = [trunk("a")]
    clock.now += 10
    refresh(refresher, name)
    assert parent.next_due == clock.now + 10  # healthy, but just changed
    clock.now += 61
    refresh(refresher, name)
    assert parent.next_due == clock.now + 30  # healthy and settled


def test_a_write_during_a_list_is_not_overwritten(setup: tuple[FakeClient, Clock, TrunkRefresher]) -> None:
    client, clock, refresher = setup
    name = f"{PARENT}/sipTrunks/a"
    refresher.watch(name)
    client.trunks = [trunk("a")]
    renamed = trunk("a").model_copy(update={"display_name": "patched"})
    client.during_list = [renamed]
    refresh(refresher, name)
    observed = refresher.observed(name)
    assert observed is not None and observed.trunk is not None
    assert observed.trunk.display_name == "patched"
    client.during_list = []
    clock.now += 1
    refresh(refresher, name)  # a listing that started after the write is believed
    observed = refresher.observed(name)
    assert observed is not None and observed.trunk is not None and observed.trunk.display_name is None


def test_listing_problem_reports_stale_failures(setup: tuple[FakeClient, Clock, TrunkRefresher]) -> None:
    client, clock, refresher = setup
    name = f"{PARENT}/sipTrunks/a"
    refresher.watch(name)
    client.trunks = [trunk("a")]
    refresh(refresher, name)
    client.fail = Unavailable("backend down", http_status=503)

    async def one_round() -> None:
        refresher._parent_of(name).next_due = 0
        task = asyncio.create_task(refresher.run())
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(one_round())
    assert refresher.listing_problem(name, max_age=90) is None  # recent enough to trust
    clock.now += 100
    problem = refresher.listing_problem(name, max_age=90)
    assert problem is not None and "backend down" in problem and "last listed 100s ago" in problem
