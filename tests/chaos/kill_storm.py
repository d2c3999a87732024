"""kill-storm: SipTrunks applied a few at a time while the operator is SIGKILLed and restarted at random
moments, the emulator holding half the writes 3 s before committing them (a slow API); then every
object deleted, under kills again. Expected: one trunk per object, every object Ready, then no trunk."""

from __future__ import annotations

import asyncio

from .common import Context, Fleet, classification, create, log_figures, prepare, trunks, unconverged_note
from .figures import kills_mid_create, project_calls
from .killer import Killer
from .report import ScenarioFigures
from .requestlog import polling


async def _apply_under_kills(ctx: Context, fleet: Fleet, killer: Killer) -> None:
    """A wave of new objects before each kill cycle, until all are applied and enough kills happened."""
    total, applied = ctx.options.kill_objects, 0
    while applied < total or len(killer.kills) < ctx.options.create_kills:
        if applied < total:
            wave = range(applied, min(total, applied + ctx.options.kill_wave))
            await create(ctx, fleet, wave)
            applied = wave.stop
        await killer.cycle()


async def kill_storm(ctx: Context) -> ScenarioFigures:
    options, control = ctx.options, ctx.env.control
    fleet = await prepare(ctx, "kill-storm")
    names = fleet.names(range(options.kill_objects))
    figures = ScenarioFigures("kill-storm", objects=options.kill_objects, minimal=2 * options.kill_objects)
    killer = Killer(ctx.env, ctx.rng)
    await asyncio.to_thread(control.configure, hold_writes_seconds=options.hold_seconds,
                            hold_writes_fraction=options.hold_fraction)
    try:
        async with fleet.watch(ctx) as watch, polling(ctx.env.collector):
            await _apply_under_kills(ctx, fleet, killer)
            create_kills = len(killer.kills)
            converged = await watch.all_converged(names, options.converge_timeout, options.stall_seconds)
            unconverged, reasons = watch.unconverged(names), unconverged_note(watch, names)
            created = await classification(ctx, fleet, watch)

            await ctx.kube.delete_all_trunks(fleet.namespace)
            for _ in range(options.delete_kills):
                await killer.cycle()
            gone = await watch.all_gone(options.converge_timeout, options.stall_seconds)
            stuck = sorted(watch.objects)
            left = {t["name"] for t in await trunks(ctx, fleet)}
    finally:
        await asyncio.to_thread(control.configure, hold_writes_seconds=0.0)

    await log_figures(ctx, fleet, figures)
    posts = project_calls(ctx.env.collector.entries(), fleet.project)
    figures.kills = len(killer.kills)
    figures.mid_create_kills = kills_mid_create(killer.kills, posts)
    figures.duplicates = created.duplicates
    figures.orphans = len(created.orphans | left)
    figures.unconverged = len(unconverged) + len(stuck)
    figures.converge_s = converged.seconds + gone.seconds
    figures.extra = {
        "create_kills": create_kills, "delete_kills": figures.kills - create_kills,
        "unowned_after_create": len(created.orphans), "left_after_delete": len(left),
        "unconverged_reasons": reasons, "stuck_deleting": len(stuck),
    }
    return figures
