"""Connection state for every trunk, refreshed cheaply with paged list calls per parent.

One list call (up to 1,000 trunks a page) refreshes a whole (project, location), so the cost is
per parent, not per trunk. A parent is listed fast while one of its watched trunks is unhealthy
or just changed, slowly when all are healthy. Per-object timers read the cache; they never call
the API themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from siptrunk_operator.api import ApiError, SipTrunksClient
from siptrunk_operator.health import is_healthy
from siptrunk_operator.models import SipTrunk, TrunkName

_LOG = logging.getLogger(__name__)
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Observation:
    """A trunk as last listed; `trunk` is None when a complete listing did not contain it."""

    trunk: SipTrunk | None
    listed_at: float


@dataclass
class _Parent:
    project: str
    location: str
    watched: dict[str, float] = field(default_factory=dict)  # trunk name -> last watch() time
    trunks: dict[str, SipTrunk] = field(default_factory=dict)
    changed_at: dict[str, float] = field(default_factory=dict)
    recorded_at: dict[str, float] = field(default_factory=dict)  # the operator's own writes
    listed_at: float | None = None
    next_due: float = 0.0
    last_error: str | None = None


class TrunkRefresher:
    """Keeps a listed copy of every watched trunk's parent; call `run()` as a background task."""

    def __init__(
        self,
        client: SipTrunksClient,
        *,
        fast_seconds: float,
        slow_seconds: float,
        settle_seconds: float = 120.0,
        forget_after: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.fast_seconds, self.slow_seconds = fast_seconds, slow_seconds
        self._settle, self._forget = settle_seconds, forget_after
        self._clock = clock
        self._parents: dict[tuple[str, str], _Parent] = {}
        self._wakeup = asyncio.Event()
        self.list_calls = 0

    def _parent_of(self, name: str) -> _Parent:
        trunk = TrunkName.parse(name)
        key = (trunk.project, trunk.location)
        if key not in self._parents:
            self._parents[key] = _Parent(trunk.project, trunk.location)
            self._wakeup.set()
        return self._parents[key]

    def watch(self, name: str) -> None:
        """Declare interest in a trunk; a never-listed parent is listed at once."""
        parent = self._parent_of(name)
        if name not in parent.watched:
            parent.next_due = min(parent.next_due, self._clock())
            self._wakeup.set()
        parent.watched[name] = self._clock()

    def observed(self, name: str) -> Observation | None:
        """The last listed state, or None while the trunk's parent has never been listed."""
        parent = self._parent_of(name)
        if parent.listed_at is None:
            return None
        return Observation(parent.trunks.get(name), parent.listed_at)

    def listing_problem(self, name: str, *, max_age: float) -> str | None:
        """Why the cached state of `name` cannot be trusted (stale listing and its last error)."""
        parent = self._parent_of(name)
        age = None if parent.listed_at is None else self._clock() - parent.listed_at
        if age is not None and age <= max_age:
            return None
        if age is None and parent.last_error is None:
            return None  # not listed yet, and nothing went wrong: just wait
        since = "never listed" if age is None else f"last listed {age:.0f}s ago"
        cause = parent.last_error or "no listing completed since"
        return f"Listing projects/{parent.project}/locations/{parent.location} fails ({since}): {cause}"

    def record(self, trunk: SipTrunk) -> None:
        """Write-through after a create or patch, so the cache never lags the operator's own writes."""
        if trunk.name:
            parent = self._parent_of(trunk.name)
            parent.trunks[trunk.name] = trunk
            parent.changed_at[trunk.name] = parent.recorded_at[trunk.name] = self._clock()
            parent.next_due = min(parent.next_due, self._clock() + self.fast_seconds)

    def forget(self, name: str) -> None:
        parent = self._parent_of(name)
        parent.watched.pop(name, None)
        parent.trunks.pop(name, None)
        parent.recorded_at.pop(name, None)

    def _delay(self, parent: _Parent, now: float) -> float:
        for name in parent.watched:
            trunk = parent.trunks.get(name)
            recently_changed = now - parent.changed_at.get(name, -1e9) < self._settle
            if trunk is None or not is_healthy(trunk) or recently_changed:
                return self.fast_seconds
        return self.slow_seconds

    async def refresh_now(self, name: str) -> None:
        """List the parent of `name` at once (benchmarks and tests; `run()` does this on schedule)."""
        await self.refresh(self._parent_of(name))

    async def refresh(self, parent: _Parent) -> None:
        started = self._clock()
        listed: dict[str, SipTrunk] = {}
        async for page, _ in self._client.list_pages(parent.project, parent.location, PAGE_SIZE):
            self.list_calls += 1
            listed.update({t.name: t for t in page if t.name})
        # A write the operator made while this listing was in flight is newer than the listing.
        for name, recorded in parent.recorded_at.items():
            if recorded >= started and name in parent.trunks:
                listed[name] = parent.trunks[name]
        parent.recorded_at = {n: t for n, t in parent.recorded_at.items() if t >= started}
        now = self._clock()
        for name, trunk in listed.items():
            previous = parent.trunks.get(name)
            if previous is None or previous.connections != trunk.connections:
                parent.changed_at[name] = now
        parent.trunks, parent.listed_at, parent.last_error = listed, now, None
        parent.next_due = now + self._delay(parent, now)

    async def run(self) -> None:
        while True:
            now = self._clock()
            for key, parent in list(self._parents.items()):
                parent.watched = {n: t for n, t in parent.watched.items() if now - t < self._forget}
                if not parent.watched:
                    del self._parents[key]
                    continue
                if parent.next_due <= now:
                    try:
                        await self.refresh(parent)
                    except ApiError as err:
                        _LOG.warning("listing projects/%s/locations/%s failed: %s",
                                     parent.project, parent.location, err)
                        parent.last_error = str(err)
                        parent.next_due = now + self.fast_seconds
                    except Exception as err:  # one bad parent must not stop the others
                        _LOG.exception("listing projects/%s/locations/%s failed", parent.project, parent.location)
                        parent.last_error = f"{type(err).__name__}: {err}"
                        parent.next_due = now + self.slow_seconds
            due = [p.next_due for p in self._parents.values()]
            delay = max(0.2, min(due) - self._clock()) if due else self.slow_seconds
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
