"""apiserver-restart and etcd-restart: the component is SIGKILLed and started again with the same data, an
edit is made while it restarts and another after; each must show in status (observedGeneration and
Ready=True) within 30 s of being accepted, and no object may keep, or go back to, an older generation's
status. emulator-restart: the emulator restarts from its state file on the same port while objects are
created; every object ends Ready with one trunk, and the settled ones stay Ready throughout."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.benchmarks.kube_http import KubeError

from .common import Context, Fleet, classification, create, log_figures, patch_spec, prepare
from .figures import went_backwards
from .report import ScenarioFigures
from .requestlog import polling
from .watch import HistoryWatch

DOWN_SECONDS = 2.0
ATTEMPT_TIMEOUT_SECONDS = 5.0
SETTLE_SECONDS = 5.0
"""After the last edit showed: anything still in flight has landed by then."""


async def _edit_until_accepted(ctx: Context, fleet: Fleet, index: int, display: str, within: float) -> float | None:
    """Patch the displayName until the API server accepts it; when it did (epoch seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(patch_spec(ctx.kube, fleet, index, {"displayName": f"{display} {index}"}),
                                   ATTEMPT_TIMEOUT_SECONDS)
            return time.time()
        except (httpx.HTTPError, KubeError, TimeoutError):
            await asyncio.sleep(0.3)
    return None


@dataclass(frozen=True)
class Edits:
    late: list[str]
    """Objects whose edit did not show in status within the edit deadline of being accepted."""
    slowest: float
    """The longest time from an edit's acceptance to its status."""
    last_accepted: float
    """When (epoch seconds) the API server accepted the last of the edits."""


async def _edit_and_wait(ctx: Context, fleet: Fleet, watch: HistoryWatch, display: str, generation: int) -> Edits:
    count, deadline = ctx.options.restart_objects, ctx.options.edit_deadline
    accepted = await asyncio.gather(*(_edit_until_accepted(ctx, fleet, i, display, ctx.options.converge_timeout)
                                      for i in range(count)))
    names = fleet.names(range(count))
    await watch.until(lambda: all((n, generation) in watch.converged_at for n in names), deadline + 1.0)
    delays = [watch.converged_at.get((name, generation), math.inf) - (when or 0.0)
              for name, when in zip(names, accepted, strict=True)]
    late = [name for name, when, delay in zip(names, accepted, delays, strict=True) if when is None or delay > deadline]
    return Edits(late, max((d for d in delays if d != math.inf), default=0.0),
                 max((when for when in accepted if when is not None), default=math.inf))


async def _control_plane_restart(ctx: Context, scenario: str, restart: Callable[[], None]) -> ScenarioFigures:
    options = ctx.options
    fleet = await prepare(ctx, scenario)
    count = options.restart_objects
    names = fleet.names(range(count))
    figures = ScenarioFigures(scenario, objects=count, minimal=3 * count)
    async with fleet.watch(ctx) as watch, polling(ctx.env.collector):
        await create(ctx, fleet, range(count))
        await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
        began = time.time()
        restarting = asyncio.create_task(asyncio.to_thread(restart))
        await asyncio.sleep(0.2)  # the component is going down
        during = await _edit_and_wait(ctx, fleet, watch, "During", 2)
        await restarting
        restarted = time.time() - began
        after = await _edit_and_wait(ctx, fleet, watch, "After", 3)
        await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
        await asyncio.sleep(SETTLE_SECONDS)
        stale = [n for n in names if watch.generations.get(n, [(0, 0)])[-1] != (3, 3)]
        backwards = [n for n in names if went_backwards(watch.generations.get(n, []))]
        found = await classification(ctx, fleet, watch)
    await log_figures(ctx, fleet, figures)
    figures.unconverged = len(set(during.late) | set(after.late) | set(stale) | set(backwards))
    figures.converge_s = during.slowest + after.slowest
    figures.duplicates, figures.orphans = found.duplicates, len(found.orphans)
    figures.extra = {"restart_s": restarted, "edit_during_accepted_s": during.last_accepted - began,
                     "edit_during_s": during.slowest, "edit_after_s": after.slowest,
                     "late_edits": len(during.late) + len(after.late), "stale_generation": len(stale),
                     "went_backwards": len(backwards)}
    return figures


async def apiserver_restart(ctx: Context) -> ScenarioFigures:
    plane = ctx.env.plane
    return await _control_plane_restart(ctx, "apiserver-restart",
                                        lambda: plane.restart_apiserver(down_seconds=DOWN_SECONDS, hard=True))


async def etcd_restart(ctx: Context) -> ScenarioFigures:
    plane = ctx.env.plane
    return await _control_plane_restart(ctx, "etcd-restart",
                                        lambda: plane.restart_etcd(down_seconds=DOWN_SECONDS, hard=True))


async def emulator_restart(ctx: Context) -> ScenarioFigures:
    options = ctx.options
    fleet = await prepare(ctx, "emulator-restart")
    settled, added = range(options.emulator_objects), range(options.emulator_objects, options.emulator_objects + 2)
    names = fleet.names([*settled, *added])
    figures = ScenarioFigures("emulator-restart", objects=len(names), minimal=len(names))
    async with fleet.watch(ctx) as watch, polling(ctx.env.collector):
        await create(ctx, fleet, settled)
        await watch.all_converged(fleet.names(settled), options.converge_timeout, options.stall_seconds)
        began = time.time()
        restarting = asyncio.create_task(asyncio.to_thread(ctx.env.restart_emulator, DOWN_SECONDS + 1.0))
        await asyncio.sleep(1.0)  # down: these creates cannot reach the API yet
        await create(ctx, fleet, added)
        await restarting
        final = await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
        dropped = [n for n in fleet.names(settled)
                   if any(when >= began and status != "True" for when, status, _ in watch.readiness.get(n, []))]
        found = await classification(ctx, fleet, watch)
    await log_figures(ctx, fleet, figures)
    figures.unconverged = len(watch.unconverged(names))
    figures.duplicates, figures.orphans = found.duplicates, len(found.orphans)
    figures.converge_s = final.seconds
    figures.extra = {"ready_dropped": len(dropped)}
    if dropped:
        figures.failures.append(f"settled objects left Ready=True during the emulator restart: {', '.join(dropped)}")
    return figures
