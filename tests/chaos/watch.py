"""A watch of one namespace's SipTrunks that keeps every status a reader saw, and waits on them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tests.benchmarks.kube_http import JsonObject, TrunkWatch

from .figures import condition_state, converged, generations


@dataclass(frozen=True)
class Waited:
    ok: bool
    seconds: float


class HistoryWatch(TrunkWatch):
    """`TrunkWatch` plus, per object, every (observedGeneration, Ready's observedGeneration) and every Ready
    (status, reason) seen, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generations: dict[str, list[tuple[int, int]]] = {}
        self.readiness: dict[str, list[tuple[float, str | None, str | None]]] = {}
        self.synced: dict[str, list[tuple[float, str | None, str | None]]] = {}
        self.converged_at: dict[tuple[str, int], float] = {}
        """(name, generation) -> when (epoch seconds) the object first showed that generation converged."""
        self.last_event = time.monotonic()

    async def __aenter__(self) -> HistoryWatch:
        await self.start()
        return self

    def _apply(self, obj: JsonObject, now: float) -> None:
        super()._apply(obj, now)
        name = obj["metadata"]["name"]
        self.generations.setdefault(name, []).append(generations(obj))
        self.last_event = time.monotonic()
        if converged(obj):
            self.converged_at.setdefault((name, int(obj["metadata"]["generation"])), time.time())
        for kind, history in (("Ready", self.readiness), ("Synced", self.synced)):
            seen, state = history.setdefault(name, []), condition_state(obj, kind)
            if not seen or seen[-1][1:] != state:
                seen.append((time.time(), *state))

    async def until(self, predicate: Callable[[], bool], within: float, stall: float | None = None) -> Waited:
        """Wait until `predicate()` holds: at most `within` seconds, and no longer once no object has changed
        for `stall` seconds (something is stuck: waiting longer would only make the run slower)."""
        started = time.monotonic()
        deadline = started + within
        while (left := deadline - time.monotonic()) > 0:
            if await self.wait_for(predicate, min(5.0, left)):
                return Waited(True, time.monotonic() - started)
            if stall is not None and time.monotonic() - max(self.last_event, started) > stall:
                break
        return Waited(False, time.monotonic() - started)

    def converged(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if name in self.objects and converged(self.objects[name])]

    def unconverged(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if name not in self.objects or not converged(self.objects[name])]

    async def all_converged(self, names: Iterable[str], within: float, stall: float | None = None) -> Waited:
        wanted = list(names)
        return await self.until(lambda: not self.unconverged(wanted), within, stall)

    async def all_gone(self, within: float, stall: float | None = None) -> Waited:
        return await self.until(lambda: not self.objects, within, stall)
