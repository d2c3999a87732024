"""The shared listing: one paged list per (project, location) serves every object in it.

A parent is listed on a schedule (fast for a while after the operator wrote one of its trunks, so
new connections show up quickly; slow otherwise, which bounds staleness), and on demand by creates,
which share one listing started after their pending markers were confirmed. A scheduled listing
yields while writes for its project wait for the quota. After each listing only the names whose
trunk changed are reported to `on_change`, so status follows the API without per-object polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from siptrunk_operator.api import ApiError, PageDecoder
from siptrunk_operator.models import SipTrunk, TrunkName
from siptrunk_operator.plan.identity import Listing

_LOG = logging.getLogger(__name__)
PAGE_SIZE = 1000


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TrunkLister(Protocol):
    """The client calls the refresher makes (SipTrunksClient)."""

    def list_pages(self, project: str, location: str, page_size: int | None = None,
                   page_token: str | None = None, *,
                   decode: Callable[[Any], tuple[list[SipTrunk], str]] | None = None,
                   ) -> AsyncIterator[tuple[list[SipTrunk], str]]: ...

    def quota_backlog(self, project: str) -> int: ...


@dataclass(frozen=True)
class CachedTrunk:
    """A trunk as last listed (`trunk` None: the last complete listing did not hold it)."""

    trunk: SipTrunk | None
    observed_at: str


@dataclass
class _Parent:
    project: str
    location: str
    watched: set[str] = field(default_factory=set)
    trunks: dict[str, SipTrunk] = field(default_factory=dict)
    written_at: dict[str, float] = field(default_factory=dict)  # the operator's writes, for the fast pace
    recorded_at: dict[str, float] = field(default_factory=dict)  # writes that a listing in flight must not undo
    listed_at: float | None = None
    listed_wall: str = ""
    next_due: float = 0.0
    last_error: str | None = None
    problem_reported: bool = False
    inflight: asyncio.Task[tuple[SipTrunk, ...]] | None = None
    inflight_started: float = 0.0
    decoder: PageDecoder = field(default_factory=PageDecoder)


class TrunkRefresher:
    """Keeps a listed copy of every watched trunk's parent; run `run()` as a background task."""

    def __init__(self, client: TrunkLister, *, fast_seconds: float, slow_seconds: float,
                 settle_seconds: float = 30.0, max_age: float | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], str] = utc_now,
                 on_change: Callable[[Iterable[str]], None] | None = None) -> None:
        self._client = client
        self.fast_seconds, self.slow_seconds, self._settle = fast_seconds, slow_seconds, settle_seconds
        self.max_age = max_age if max_age is not None else 3 * slow_seconds
        self._clock, self._wall = clock, wall
        self.on_change = on_change
        self._parents: dict[tuple[str, str], _Parent] = {}
        self._wakeup = asyncio.Event()

    def _parent(self, project: str, location: str) -> _Parent:
        key = (project, location)
        if key not in self._parents:
            self._parents[key] = _Parent(project, location)
        return self._parents[key]

    def _parent_of(self, name: str) -> _Parent:
        trunk = TrunkName.parse(name)
        return self._parent(trunk.project, trunk.location)

    def watch(self, name: str) -> None:
        """Declare interest in a trunk. Only a parent never listed is listed at once for it."""
        parent = self._parent_of(name)
        if not parent.watched and parent.listed_at is None and parent.inflight is None:
            parent.next_due = self._clock()
            self._wakeup.set()
        parent.watched.add(name)

    def forget(self, name: str) -> None:
        parent = self._parent_of(name)
        parent.watched.discard(name)
        parent.recorded_at.pop(name, None)

    def lookup(self, name: str) -> CachedTrunk | str | None:
        """The cached trunk; a string saying why the cache cannot be trusted (the listing keeps
        failing); None while its parent's first listing is awaited."""
        parent = self._parent_of(name)
        if parent.listed_at is None or self._clock() - parent.listed_at > self.max_age:
            return self._problem(parent)
        return CachedTrunk(parent.trunks.get(name), parent.listed_wall)

    def _problem(self, parent: _Parent) -> str | None:
        """None only while a first listing is awaited without error; a listing too old is a problem
        even when nothing failed (it may be queued behind the quota): health is then Unknown."""
        where = f"projects/{parent.project}/locations/{parent.location}"
        if parent.listed_at is None:
            return None if parent.last_error is None else f"Listing {where} fails (never listed): {parent.last_error}"
        age = f"last listed {self._clock() - parent.listed_at:.0f}s ago"
        if parent.last_error is None:
            return f"The listing of {where} is late ({age}); connection state is not current."
        return f"Listing {where} fails ({age}): {parent.last_error}"

    def listing_ages(self) -> dict[tuple[str, str], float]:
        """Seconds since each listed (project, location) was last listed completely."""
        now = self._clock()
        return {key: now - parent.listed_at for key, parent in self._parents.items() if parent.listed_at is not None}

    def record(self, trunk: SipTrunk) -> None:
        """Write-through after a create or patch, so the cache never lags the operator's own writes."""
        if trunk.name:
            parent = self._parent_of(trunk.name)
            now = self._clock()
            parent.trunks[trunk.name] = trunk
            parent.written_at[trunk.name] = parent.recorded_at[trunk.name] = now
            if now + self.fast_seconds < parent.next_due:
                parent.next_due = now + self.fast_seconds
                self._wakeup.set()

    async def listing(self, project: str, location: str, *, started_after: float) -> tuple[SipTrunk, ...]:
        """Every trunk of the parent, from a listing that started at or after `started_after`;
        callers waiting together share one listing."""
        parent = self._parent(project, location)
        while True:
            task = parent.inflight
            if task is not None and task.done():
                parent.inflight = task = None
            if task is not None and parent.inflight_started >= started_after:
                return await asyncio.shield(task)
            if task is not None:
                await asyncio.wait([task])
                continue
            self._start(parent)

    def _start(self, parent: _Parent) -> None:
        parent.inflight_started = self._clock()
        parent.inflight = asyncio.create_task(self._list(parent), name=f"list {parent.project}/{parent.location}")
        parent.inflight.add_done_callback(lambda done: self._listed(parent, done))

    def _listed(self, parent: _Parent, done: asyncio.Task[tuple[SipTrunk, ...]]) -> None:
        if parent.inflight is done:
            parent.inflight = None
        if done.cancelled():
            return
        err = done.exception()
        if err is not None:
            _LOG.warning("listing projects/%s/locations/%s failed: %s", parent.project, parent.location, err)
            parent.last_error = str(err) if isinstance(err, ApiError) else f"{type(err).__name__}: {err}"
            parent.next_due = self._clock() + self.fast_seconds
            stale = parent.listed_at is None or self._clock() - parent.listed_at > self.max_age
            if stale and not parent.problem_reported:
                parent.problem_reported = True
                self._notify(parent.watched)
        self._wakeup.set()

    async def _list(self, parent: _Parent) -> tuple[SipTrunk, ...]:
        started, started_wall = self._clock(), self._wall()
        listed: dict[str, SipTrunk] = {}
        async for page, _ in self._client.list_pages(parent.project, parent.location, PAGE_SIZE,
                                                     decode=parent.decoder):
            listed.update({t.name: t for t in page if t.name})
        parent.decoder.retain(set(listed))
        for name, recorded in parent.recorded_at.items():  # newer than this listing
            if recorded >= started and name in parent.trunks:
                listed[name] = parent.trunks[name]
        parent.recorded_at = {n: t for n, t in parent.recorded_at.items() if t >= started}
        now = self._clock()
        changed = {n for n in parent.watched if _differs(parent.trunks.get(n), listed.get(n))}
        if parent.listed_at is None or parent.problem_reported:
            changed = set(parent.watched)  # first listing, or recovered from failing ones
        parent.trunks, parent.listed_at, parent.listed_wall = listed, started, started_wall
        parent.last_error, parent.problem_reported = None, False
        parent.next_due = now + self._delay(parent, now)
        self._notify(changed)
        return Listing(listed.values())

    def _notify(self, names: Iterable[str]) -> None:
        names = list(names)
        if names and self.on_change is not None:
            self.on_change(names)

    def _delay(self, parent: _Parent, now: float) -> float:
        """Fast while the operator wrote one of the trunks lately (its connections are settling)."""
        parent.written_at = {n: t for n, t in parent.written_at.items() if now - t < self._settle}
        recent = any(n in parent.watched for n in parent.written_at)
        return self.fast_seconds if recent else self.slow_seconds

    async def run(self) -> None:
        while True:
            now = self._clock()
            for key, parent in list(self._parents.items()):
                stale = parent.listed_at is not None and now - parent.listed_at > self.max_age
                if stale and not parent.problem_reported:
                    parent.problem_reported = True
                    self._notify(parent.watched)
                if not parent.watched and parent.inflight is None and not parent.recorded_at:
                    del self._parents[key]
                elif parent.next_due <= now and parent.inflight is None:
                    if self._client.quota_backlog(parent.project):  # writes first: health can wait
                        parent.next_due = now + self.fast_seconds
                        continue
                    parent.next_due = now + self.slow_seconds  # rescheduled once the listing ends
                    self._start(parent)
            due = [p.next_due for p in self._parents.values() if p.inflight is None]
            delay = max(0.05, min(due) - self._clock()) if due else self.slow_seconds
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)


def _differs(before: SipTrunk | None, after: SipTrunk | None) -> bool:
    return before is not after and before != after  # an unchanged item is the same model (PageDecoder)
