"""The engine's plumbing: the work queue's guarantees, the registry, and which events are news."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from siptrunk_operator.engine.queue import WorkQueue
from siptrunk_operator.engine.registry import Registry
from siptrunk_operator.plan.actions import Result
from siptrunk_operator.plan.pacing import wake_at
from siptrunk_operator.plan.triggers import needs_reconcile, newer
from siptrunk_operator.plan.view import CREATE_PENDING_ANNOTATION, RESYNC_ANNOTATION, TRUNK_NAME_ANNOTATION, ObjectView
from siptrunk_operator.settings import FINALIZER


def body(rv: str = "10", generation: int = 1, **meta: Any) -> dict[str, Any]:
    status = meta.pop("status", {})
    return {"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": rv,
                         "generation": generation, **meta},
            "spec": {"projectID": "p", "expectedHostname": ["a.example.com"]}, "status": status}


def test_queue_runs_a_key_once_and_again_if_it_changed_while_running() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.add("a")
        queue.add("b")
        seen = [await queue.get()]
        queue.add("a")  # changed while being processed
        assert len(queue) == 1
        queue.done("a")
        seen += [await queue.get(), await queue.get()]
        return seen

    assert asyncio.run(scenario()) == ["a", "b", "a"]


def test_queue_add_after_replaces_the_earlier_wake_and_forget_drops_all() -> None:
    async def scenario() -> tuple[float | None, bool, bool]:
        queue: WorkQueue[str] = WorkQueue()
        loop = asyncio.get_running_loop()
        queue.add_after("a", 100)
        queue.add_after("a", 0.01)
        when = queue.scheduled("a")
        assert when is not None and when - loop.time() < 1
        got = await asyncio.wait_for(queue.get(), 1)
        queue.done(got)
        queue.add_after("b", 100)
        queue.add("c")
        queue.forget("b")
        queue.forget("c")
        return queue.scheduled("b"), queue.idle, len(queue) == 0

    assert asyncio.run(scenario()) == (None, True, True)


@pytest.mark.parametrize(("current", "previous", "expected"), [
    ("11", "10", True), ("10", "10", False), ("9", "10", False), ("abc", "abd", True), ("abc", "abc", False),
])
def test_resource_versions(current: str, previous: str, expected: bool) -> None:
    assert newer(current, previous) is expected


@pytest.mark.parametrize(("change", "worth"), [
    ({}, False),
    ({"generation": 2}, True),
    ({"deletionTimestamp": "2026-12-01T00:00:00Z"}, True),
    ({"finalizers": [FINALIZER]}, True),
    ({"annotations": {TRUNK_NAME_ANNOTATION: "x"}}, True),
    ({"annotations": {CREATE_PENDING_ANNOTATION: "x"}}, True),
    ({"annotations": {RESYNC_ANNOTATION: "60"}}, True),
    ({"annotations": {"team": "x"}}, False),
    ({"labels": {"team": "x"}}, False),
    ({"status": {"name": "lost and restored"}}, True),
])
def test_which_changes_are_news(change: dict[str, Any], worth: bool) -> None:
    before = ObjectView.from_body(body())
    after = ObjectView.from_body(body(rv="11", **change))
    assert needs_reconcile(before, after) is worth
    assert needs_reconcile(None, after) is True
    assert needs_reconcile(after, ObjectView.from_body(body(rv="10", generation=5))) is False  # an old event


def test_registry_keeps_the_newest_and_indexes_what_each_object_follows() -> None:
    registry = Registry()
    assert registry.observe(body(), now=1.0)
    assert not registry.observe(body(rv="9", generation=7), now=1.0)
    assert registry.stored(body(rv="12", generation=2)).generation == 2
    state = registry.get("u1")
    assert state is not None and state.view.generation == 2
    assert registry.watch("u1", "t1") == (None, "t1")
    assert registry.watch("u1", "t1") == (None, None)
    assert registry.following(["t1", "t2"]) == {"u1"}
    assert registry.watch("u1", "t2") == ("t1", "t2")
    assert registry.following(["t1"]) == set()
    assert registry.forget("u1") is not None
    assert registry.following(["t2"]) == set() and len(registry) == 0 and registry.get("u1") is None


def test_an_opaque_resource_version_against_a_numeric_one_counts_as_newer() -> None:
    assert newer("5", "abc") and newer("abc", "5")


def test_the_wake_up_floor_keeps_a_late_resync_from_spinning() -> None:
    assert wake_at(Result(), resync_at=10.0, now=100.0) == 101.0
    assert wake_at(Result(), resync_at=500.0, now=100.0) == 500.0
    assert wake_at(Result(retry_after=30.0), resync_at=500.0, now=100.0) == 130.0
