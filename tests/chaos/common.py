"""What every scenario uses: its namespace, project and objects, and its figures from the request log."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tests.benchmarks.kube_http import JsonObject, KubeHttp, trunk_object, trunks_path
from tests.e2e.helpers import project_trunks

from .environment import ChaosEnvironment
from .figures import (
    Classification,
    calls_by_method,
    classify,
    condition_state,
    faults_injected,
    object_facts,
    project_calls,
    trunk_facts,
)
from .options import ChaosOptions
from .report import ScenarioFigures
from .watch import HistoryWatch

APPLY_CONCURRENCY = 8


@dataclass
class Context:
    env: ChaosEnvironment
    kube: KubeHttp
    options: ChaosOptions
    rng: random.Random


@dataclass(frozen=True)
class Fleet:
    """One scenario's objects `t000`, `t001`… in namespace and project `chaos-{scenario}`, each with one
    hostname of its own (so a trunk matches exactly one object)."""

    scenario: str

    @property
    def namespace(self) -> str:
        return f"chaos-{self.scenario}"

    @property
    def project(self) -> str:
        return f"chaos-{self.scenario}"

    @staticmethod
    def name(index: int) -> str:
        return f"t{index:03d}"

    def names(self, indexes: Iterable[int]) -> list[str]:
        return [self.name(i) for i in indexes]

    def hostname(self, index: int) -> str:
        return f"t{index}.{self.scenario}.chaos.example.com"

    def manifest(self, index: int, display: str = "Chaos", **spec: Any) -> JsonObject:
        return trunk_object(self.name(index), self.project, self.hostname(index), f"{display} {index}", **spec)

    def watch(self, ctx: Context) -> HistoryWatch:
        return HistoryWatch(ctx.kube, self.namespace)


async def prepare(ctx: Context, scenario: str) -> Fleet:
    fleet = Fleet(scenario)
    await ctx.kube.create_namespace(fleet.namespace)
    return fleet


async def create(ctx: Context, fleet: Fleet, indexes: Iterable[int], **spec: Any) -> None:
    slots = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def one(index: int) -> None:
        async with slots:
            await ctx.kube.create_trunk(fleet.namespace, fleet.manifest(index, **spec))

    await asyncio.gather(*(one(i) for i in indexes))


async def edit(ctx: Context, fleet: Fleet, indexes: Iterable[int], display: str) -> None:
    """Change each object's displayName (a new generation; one PATCH is the minimal cost)."""
    slots = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def one(index: int) -> None:
        async with slots:
            await patch_spec(ctx.kube, fleet, index, {"displayName": f"{display} {index}"})

    await asyncio.gather(*(one(i) for i in indexes))


async def patch_spec(kube: KubeHttp, fleet: Fleet, index: int, spec: JsonObject) -> JsonObject:
    return await kube.call("PATCH", trunks_path(fleet.namespace, fleet.name(index)), body={"spec": spec},
                           content_type="application/merge-patch+json")


async def delete(ctx: Context, fleet: Fleet, indexes: Iterable[int]) -> None:
    await asyncio.gather(*(ctx.kube.delete_trunk(fleet.namespace, fleet.name(i)) for i in indexes))


async def trunks(ctx: Context, fleet: Fleet) -> list[dict[str, Any]]:
    return await asyncio.to_thread(project_trunks, ctx.env.control, fleet.project)


async def classification(ctx: Context, fleet: Fleet, watch: HistoryWatch) -> Classification:
    objects = [object_facts(obj) for obj in watch.objects.values()]
    return classify(objects, [trunk_facts(t) for t in await trunks(ctx, fleet)])


async def log_figures(ctx: Context, fleet: Fleet, figures: ScenarioFigures, kills: Sequence[float] = ()) -> None:
    """Fill in the calls, list pages and injected faults of the scenario's project, from the request log."""
    await asyncio.to_thread(ctx.env.collector.poll)
    entries = project_calls(ctx.env.collector.entries(), fleet.project)
    by_method = calls_by_method(entries)
    figures.calls, figures.lists = sum(by_method.values()), by_method["LIST"]
    figures.faults = faults_injected(entries)
    if not ctx.env.collector.complete:
        figures.failures.append("the request log lost entries between two polls: the counts are incomplete")


def unconverged_note(watch: HistoryWatch, names: Sequence[str]) -> str:
    """The Ready reasons of the objects that did not converge, e.g. `CreateOutcomeUnknown:2,missing:1`."""
    reasons: Counter[str] = Counter()
    for name in watch.unconverged(names):
        obj = watch.objects.get(name)
        reasons["missing" if obj is None else condition_state(obj)[1] or "no-status"] += 1
    return ",".join(f"{reason}:{n}" for reason, n in sorted(reasons.items())) or "none"
