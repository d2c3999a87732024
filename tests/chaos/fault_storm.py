"""fault-storm: creates, then edits, then deletes of every object while the emulator answers 30 % of the
project's calls 503, loses 12 % of the write responses (after committing), adds 2 s latency spikes and
429 bursts with RetryInfo. Expected: one trunk per object, every edit applied, no trunk left; the
amplification (calls / minimal calls) is the figure to watch."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from siptrunk_operator.emulator import EmulatorControl

from .common import Context, classification, create, delete, edit, log_figures, prepare, trunks, unconverged_note
from .report import ScenarioFigures
from .requestlog import polling

LOST_RESPONSE, UNAVAILABLE, SPIKE, SPIKE_SECONDS = 0.12, 0.30, 0.10, 2.0
BURST_EVERY_SECONDS, BURST_SECONDS, BURST_RETRY_SECONDS = 15.0, 3.0, 1.0


def add_storm(control: EmulatorControl, path: str) -> None:
    """Rules apply in order, the first drawn wins: a write's response is lost (12 %), else it is a 503."""
    for method in ("POST", "PATCH", "DELETE"):
        control.add_fault("lost_response", method=method, path=path, probability=LOST_RESPONSE)
    control.add_fault("error", path=path, status=503, probability=UNAVAILABLE)
    control.add_fault("latency", path=path, latency=SPIKE_SECONDS, probability=SPIKE)


@contextlib.asynccontextmanager
async def bursts(control: EmulatorControl, path: str) -> AsyncIterator[None]:
    """Every 15 s the quota runs out for 3 s: every call to the project then gets 429 RESOURCE_EXHAUSTED
    with a 1 s RetryInfo (a rule placed before the others, removed when the burst ends)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(BURST_EVERY_SECONDS)
            burst = await asyncio.to_thread(control.add_fault, "error", path=path, status=429,
                                            retry_delay=BURST_RETRY_SECONDS, first=True)
            await asyncio.sleep(BURST_SECONDS)
            await asyncio.to_thread(control.remove_fault, burst)

    task = asyncio.create_task(loop(), name="chaos-429-bursts")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def fault_storm(ctx: Context) -> ScenarioFigures:
    options, control = ctx.options, ctx.env.control
    fleet = await prepare(ctx, "fault-storm")
    count = options.fault_objects
    indexes, names = range(count), fleet.names(range(count))
    figures = ScenarioFigures("fault-storm", objects=count, minimal=3 * count)
    path = re.escape(f"/projects/{fleet.project}/")
    await asyncio.to_thread(add_storm, control, path)
    unconverged: set[str] = set()
    reasons: list[str] = []
    try:
        async with fleet.watch(ctx) as watch, polling(ctx.env.collector), bursts(control, path):
            await create(ctx, fleet, indexes)
            created = await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
            unconverged |= set(watch.unconverged(names))
            reasons.append(unconverged_note(watch, names))
            found = await classification(ctx, fleet, watch)

            await edit(ctx, fleet, indexes, "Edited")
            edited = await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
            unconverged |= set(watch.unconverged(names))
            reasons.append(unconverged_note(watch, names))

            await delete(ctx, fleet, indexes)
            gone = await watch.all_gone(options.converge_timeout, options.stall_seconds)
            unconverged |= set(watch.objects)
    finally:
        await asyncio.to_thread(control.clear_faults)
    left = {t["name"] for t in await trunks(ctx, fleet)}

    await log_figures(ctx, fleet, figures)
    figures.duplicates = found.duplicates
    figures.orphans = len(found.orphans | left)
    figures.unconverged = len(unconverged)
    figures.converge_s = created.seconds + edited.seconds + gone.seconds
    figures.extra = {"create_s": created.seconds, "edit_s": edited.seconds, "delete_s": gone.seconds,
                     "unconverged_reasons": "/".join(reasons)}
    return figures
